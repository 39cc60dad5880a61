using System;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// Flows with closed-form densities for known-answer scorer tests, in float64 and eval() mode.
internal static class GaussianFlows
{
    // log N(x; 0, I) per dimension at x = 0.
    public static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    // The entropy of N(0, I_D) in nats: (D/2)(1 + log 2π).
    public static double StandardNormalEntropy(int dimensions) => dimensions * (0.5 + HalfLogTwoPi);

    // A flow on events [D] whose density is exactly N(mean, diag(std²)): one ActNorm with bias = −mean and
    // log scale = −log std, so z = (x − mean)/std.
    public static NormalizingFlow Create(double[] mean, double[]? std = null)
    {
        std ??= Enumerable.Repeat(1.0, mean.Length).ToArray();
        var actNorm = new ActNorm(mean.Length);
        var flow = new NormalizingFlow(actNorm, [mean.Length]);
        flow.to(ScalarType.Float64);
        using (var scope = NewDisposeScope())
        {
            actNorm.InitializeFrom(zeros(2, mean.Length, dtype: ScalarType.Float64));
            using var noGrad = no_grad();
            var parameters = actNorm.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            parameters["bias"].copy_(tensor(mean.Select(m => -m).ToArray()));
            parameters["log_scale"].copy_(tensor(std.Select(s => -Math.Log(s)).ToArray()));
        }

        flow.eval();
        return flow;
    }

    public static NormalizingFlow StandardNormal(int dimensions) => Create(new double[dimensions]);

    // [n, D] draws from N(mean, std² I) using torch's global generator.
    public static Tensor Samples(long n, int dimensions, double mean = 0, double std = 1) =>
        randn(n, dimensions, dtype: ScalarType.Float64).TimesInPlace(std).PlusInPlace(mean);
}
