using System;
using System.Linq;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// Tiny classifiers and synthetic 1x8x8 images for the gate tests. Everything random comes from private generators, so
// nothing here reads or seeds torch's global generator (module construction draws from it, but the weights are then
// overwritten from the private generator).
internal static class GateTestModels
{
    public static readonly long[] InputShape = [1, 8, 8];

    public const int Classes = 3;

    public static readonly TabularRealNvpOptions SmallFlow = new() { Couplings = 4, HiddenWidth = 32 };

    // conv1 -> relu -> pool -> conv2 -> relu -> flatten -> fc1 [N, hidden] -> relu -> fc2 [N, 3]; in eval() mode.
    public static nn.Module<Tensor, Tensor> Cnn(long seed, int hidden = 16)
    {
        var net = nn.Sequential(
            ("conv1", nn.Conv2d(1, 4, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(4, 8, 3, padding: 1)),
            ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(8 * 4 * 4, hidden)),
            ("relu3", nn.ReLU()),
            ("fc2", nn.Linear(hidden, Classes)));
        Reinitialize(net, seed);
        net.eval();
        return net;
    }

    public static void Reinitialize(nn.Module module, long seed)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var parameter in module.parameters())
        {
            var fanIn = parameter.Dimensions > 1 ? parameter.numel() / parameter.shape[0] : 10;
            parameter.copy_(randn(parameter.shape, generator: generator).Times(1.0 / Math.Sqrt(fanIn)));
        }
    }

    // [n, 1, 8, 8] in [0, 1]: input i shows a bright 3x3 patch at a position of its class (i mod 3), jittered by up to one
    // pixel, on a faintly noisy background.
    public static Tensor InDistribution(long n, long seed)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var images = randn([n, .. InputShape], generator: generator).Times(0.05).Plus(0.1);
        var jitter = randint(0, 3, [n, 2], generator: generator).data<long>().ToArray();
        for (long i = 0; i < n; i++)
        {
            var k = i % Classes;
            var row = 1 + (2 * k) + jitter[2 * i] - 1;
            var column = 4 - k + jitter[(2 * i) + 1] - 1;
            images[i, 0, TensorIndex.Slice(row, row + 3), TensorIndex.Slice(column, column + 3)] = images[i, 0, TensorIndex.Slice(row, row + 3), TensorIndex.Slice(column, column + 3)].Plus(0.8);
        }

        return scope.MoveToOuter(images.clamp(ScalarMath.Zero, ScalarMath.One));
    }

    // Uniform noise in [0, 1].
    public static Tensor Noise(long n, long seed) => rand([n, .. InputShape], generator: new Generator((ulong)seed));

    public static OodGateOptions FitOptions(string layer = "fc1") => new()
    {
        FeatureLayer = layer,
        TargetFalsePositiveRate = 0.1,
        CalibrationFraction = 0.5,
        FeatureFlow = new FeatureSpaceFitOptions
        {
            Flow = SmallFlow,
            Training = new TrainingOptions { Steps = 150, BatchSize = 64, Seed = 3 },
        },
        ClassNames = ["top", "middle", "bottom"],
        Seed = 7,
    };

    // Bit-level equality of two decisions (GateDecision.Equals compares values; this also tells 0.0 from -0.0).
    public static bool SameBits(GateDecision a, GateDecision b) =>
        a.Equals(b)
        && BitConverter.DoubleToInt64Bits(a.Score) == BitConverter.DoubleToInt64Bits(b.Score)
        && BitConverter.DoubleToInt64Bits(a.PValue) == BitConverter.DoubleToInt64Bits(b.PValue)
        && a.Probabilities.Select(BitConverter.SingleToInt32Bits).SequenceEqual(b.Probabilities.Select(BitConverter.SingleToInt32Bits));
}

// One gate fitted on the fc1 layer of a tiny CNN, shared by the tests of a class (Fit takes a few seconds).
public sealed class FittedGateFixture : IDisposable
{
    public FittedGateFixture()
    {
        FlowOodRuntime.EnsureAvailable();
        Classifier = GateTestModels.Cnn(seed: 11);
        Training = GateTestModels.InDistribution(400, seed: 1);
        Gate = OodGate.Fit(Classifier, Training, GateTestModels.FitOptions());
    }

    public nn.Module<Tensor, Tensor> Classifier { get; }

    public Tensor Training { get; }

    public OodGate Gate { get; }

    public void Dispose()
    {
        Gate.Dispose();
        Training.Dispose();
        Classifier.Dispose();
    }
}
