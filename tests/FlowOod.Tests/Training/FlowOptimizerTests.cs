using System;
using System.Linq;
using FlowOod;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Training;

// FlowTrainer's own Adam and RMSprop (no temporary Scalars reach libtorch) give, bit for bit, what TorchSharp's
// optim.Adam / optim.RMSProp give with the trainer's settings, with and without weight decay.
public sealed class FlowOptimizerTests
{
    [Theory]
    [InlineData(OptimizerKind.Adam, 0.0)]
    [InlineData(OptimizerKind.Adam, 1e-4)]
    [InlineData(OptimizerKind.RmsProp, 0.0)]
    [InlineData(OptimizerKind.RmsProp, 5e-5)]
    public void Steps_MatchTorchSharpsOptimizer_BitForBit(OptimizerKind kind, double weightDecay)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var start = new[] { randn([5, 3], generator: generator), randn([4], generator: generator) };
        var ours = start.Select(t => new Parameter(t.clone())).ToArray();
        var theirs = start.Select(t => new Parameter(t.clone())).ToArray();
        const double learningRate = 1e-2;
        using var optimizer = new FlowOptimizer(ours, kind, learningRate, weightDecay);
        using OptimizerHelper reference = kind == OptimizerKind.Adam
            ? optim.Adam(theirs, lr: learningRate, weight_decay: weightDecay)
            : optim.RMSProp(theirs, lr: learningRate, weight_decay: weightDecay);

        for (int step = 0; step < 6; step++)
        {
            using var targets = randn([5, 3], generator: generator);
            optimizer.ZeroGrad();
            reference.zero_grad();
            Loss(ours, targets).backward();
            Loss(theirs, targets).backward();
            optimizer.Step();
            reference.step();
            for (int i = 0; i < ours.Length; i++)
            {
                Bytes(ours[i]).Should().Equal(Bytes(theirs[i]), $"parameter {i} after step {step + 1} ({kind}, weight decay {weightDecay})");
            }
        }
    }

    [Fact]
    public void Step_SkipsParametersWithoutGradient_AndZeroGradKeepsThemWithout()
    {
        using var scope = NewDisposeScope();
        var used = new Parameter(ones(3));
        var unused = new Parameter(ones(3));
        using var optimizer = new FlowOptimizer([used, unused], OptimizerKind.Adam, 0.1, 0);

        optimizer.ZeroGrad();
        used.sum().backward();
        optimizer.Step();

        Bytes(unused).Should().Equal(Bytes(ones(3)));
        Bytes(used).Should().NotEqual(Bytes(ones(3)));
        unused.grad.Should().BeNull();
    }

    private static Tensor Loss(Parameter[] parameters, Tensor targets)
    {
        var difference = parameters[0].add(targets.neg(), ScalarMath.One);
        return difference.mul(difference).sum().add(parameters[1].mul(parameters[1]).sum(), ScalarMath.One);
    }

    private static byte[] Bytes(Tensor t)
    {
        using var host = t.detach().cpu().contiguous();
        return host.bytes.ToArray();
    }
}
