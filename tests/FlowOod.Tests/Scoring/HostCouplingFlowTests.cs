using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

// The managed path of NegativeLogLikelihoodScorer for small batches of feature vectors: the same log p(x) as libtorch's
// path, from the flow's current weights, and libtorch wherever it does not apply.
public sealed class HostCouplingFlowTests
{
    private const int Features = 12;

    public static TheoryData<string> Activations => new() { "tanh", "sigmoid", "softclamp" };

    [Theory]
    [MemberData(nameof(Activations))]
    public void LogProb_MatchesLibTorch_ForOneRowAndForAFullChunkWithAnOffset(string activation)
    {
        using var flow = Flow(Activation(activation), seed: 3);
        var host = HostCouplingFlow.TryCreate(flow);
        host.Should().NotBeNull("an affine-coupling flow with MLP st-networks over a vector has a host form");
        using var data = Data(40, seed: 4);
        using var one = data.narrow(0, 0, 1);
        using var chunk = data.narrow(0, 7, HostCouplingFlow.MaxRows); // contiguous, at a storage offset

        foreach (var batch in new[] { one, chunk })
        {
            var managed = host!.TryCheckedLogProb(batch, null, "batch");
            managed.Should().NotBeNull();
            var expected = TorchLogProb(flow, batch);
            managed!.Should().HaveCount(expected.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                managed[i].Should().BeApproximately(expected[i], 2e-4 + 1e-5 * Math.Abs(expected[i]), $"row {i}, {activation}");
            }
        }
    }

    [Fact]
    public void Scorer_ScoresSmallBatchesOnTheHost_AsItsLibTorchPathScoresThem()
    {
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 5);
        using var scorer = new NegativeLogLikelihoodScorer(flow);
        using var data = Data(HostCouplingFlow.MaxRows + 1, seed: 6);
        using var small = data.narrow(0, 0, HostCouplingFlow.MaxRows);

        var onHost = scorer.Score(small);
        var withLibTorch = scorer.Score(data); // one row too many for the host

        onHost.Should().HaveCount(HostCouplingFlow.MaxRows);
        for (int i = 0; i < onHost.Length; i++)
        {
            onHost[i].Should().BeApproximately(withLibTorch[i], 1e-5 + 2e-6 * Math.Abs(withLibTorch[i]), $"row {i} in bits/dim (float32 rounding)");
        }
    }

    [Fact]
    public void FeatureSpaceScorer_GatesChunksOnTheHost_ScoreAsInALargerBatch()
    {
        using var train = Data(256, seed: 13);
        using var scorer = FeatureSpaceScorer.FitOnFeatures(train, new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16 },
            Training = new FlowOod.Training.TrainingOptions { Steps = 5, BatchSize = 64, Seed = 1 },
        });
        using var data = Data(HostCouplingFlow.MaxRows + 1, seed: 14);
        using var chunk = data.narrow(0, 1, HostCouplingFlow.MaxRows);

        var onHost = scorer.ScoreFeatures(chunk, "test", "features");
        var withLibTorch = scorer.Score(data);
        using var dense = chunk.contiguous();
        var fromRows = scorer.TryScoreRowsOnHost(dense.data<float>().ToArray(), HostCouplingFlow.MaxRows);

        for (int i = 0; i < onHost.Length; i++)
        {
            onHost[i].Should().BeApproximately(withLibTorch[i + 1], 1e-4 + 1e-5 * Math.Abs(withLibTorch[i + 1]), $"row {i + 1} in nats");
        }

        fromRows.Should().Equal(onHost, "rows standardised in managed code (float64, rounded to float32) are the tensor path's bit for bit");
        scorer.TryScoreRowsOnHost(new float[(HostCouplingFlow.MaxRows + 1) * Features], HostCouplingFlow.MaxRows + 1).Should().BeNull("too many rows");
    }

    [Fact]
    public void LogProb_ReadsTheCurrentWeights_NotASnapshot()
    {
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 7);
        var host = HostCouplingFlow.TryCreate(flow)!;
        using var data = Data(4, seed: 8);
        var before = host.TryCheckedLogProb(data, null, "batch")!;

        using (no_grad())
        {
            foreach (var parameter in flow.parameters())
            {
                parameter.TimesInPlace(1.5);
            }
        }

        var after = host.TryCheckedLogProb(data, null, "batch")!;
        after.Should().NotEqual(before, "the weights changed in place");
        var expected = TorchLogProb(flow, data);
        for (int i = 0; i < expected.Length; i++)
        {
            after[i].Should().BeApproximately(expected[i], 2e-4 + 1e-5 * Math.Abs(expected[i]));
        }
    }

    [Fact]
    public void TryCheckedLogProb_LeavesToLibTorch_WhatItDoesNotCover()
    {
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 9);
        var host = HostCouplingFlow.TryCreate(flow)!;
        using var data = Data(HostCouplingFlow.MaxRows + 1, seed: 10);
        using var doubles = data.narrow(0, 0, 2).to_type(ScalarType.Float64);
        using var strided = data.narrow(0, 0, 4).t().contiguous().t();

        host.TryCheckedLogProb(data, null, "batch").Should().BeNull("more rows than MaxRows");
        host.TryCheckedLogProb(doubles, null, "batch").Should().BeNull("a float64 batch");
        host.TryCheckedLogProb(strided, null, "batch").Should().BeNull("a non-contiguous batch");
        using (var wrongWidth = zeros(2, Features + 1))
        {
            host.TryCheckedLogProb(wrongWidth, null, "batch").Should().BeNull("libtorch's path names a wrong shape");
        }

        flow.train();
        using (var floats = doubles.to_type(ScalarType.Float32))
        {
            host.TryCheckedLogProb(floats, null, "batch").Should().BeNull("a flow in training mode");
        }

        flow.eval();
        flow.to(ScalarType.Float64);
        host.TryCheckedLogProb(doubles, null, "batch").Should().BeNull("float64 weights");
    }

    [Fact]
    public void TryCreate_IsNullForFlowsWithAPartItDoesNotCover()
    {
        using var image = RealNvp.Create([1, 8, 8], RealNvpOptions.Compact);
        HostCouplingFlow.TryCreate(image).Should().BeNull("an image flow");

        using var withActNorm = new NormalizingFlow(
            new Chain(new ActNorm(Features), Coupling(0, ScaleActivation.RealNvpTanh)), [Features]);
        HostCouplingFlow.TryCreate(withActNorm).Should().BeNull("an ActNorm step");

        using var custom = new NormalizingFlow(new Chain(Coupling(0, new Doubled()), Coupling(1, new Doubled())), [Features]);
        HostCouplingFlow.TryCreate(custom).Should().BeNull("a scale activation of the user's");

        using var tabular = TabularRealNvp.Create(Features);
        HostCouplingFlow.TryCreate(tabular).Should().NotBeNull("TabularRealNvp is the flow it is for");
        using var fp32 = ConditionerPrecision.CreateInferenceCopy(tabular, ComputePrecision.Float32);
        HostCouplingFlow.TryCreate(fp32).Should().NotBeNull("its float32 inference copy");
        using var bf16 = ConditionerPrecision.CreateInferenceCopy(tabular, ComputePrecision.BFloat16);
        HostCouplingFlow.TryCreate(bf16).Should().BeNull("bf16 st-networks");

        using var nested = new NormalizingFlow(
            new Chain(new Chain(Coupling(0, ScaleActivation.GlowSigmoid), Coupling(1, ScaleActivation.GlowSigmoid)), Coupling(2, ScaleActivation.GlowSigmoid)),
            [Features]);
        HostCouplingFlow.TryCreate(nested).Should().NotBeNull("chains may nest");
    }

    [Fact]
    public void BadInput_ThrowsAsLibTorchsPathDoes()
    {
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 12, inputRange: (-3, 3));
        using var scorer = new NegativeLogLikelihoodScorer(flow);
        using var nan = zeros(2, Features);
        using (var value = tensor(float.NaN))
        {
            nan[1, 3] = value;
        }

        using var outside = zeros(2, Features);
        using (var value = tensor(4f))
        {
            outside[0, 0] = value;
        }

        var act = () => scorer.Score(nan);
        act.Should().Throw<ArgumentException>().WithMessage("The batch contains NaN or infinite values.*").And.ParamName.Should().Be("batch");
        var range = () => scorer.Score(outside);
        range.Should().Throw<ArgumentException>().WithMessage("Input values must lie in [-3, 3]*").And.ParamName.Should().Be("batch");
    }

    private static double[] TorchLogProb(NormalizingFlow flow, Tensor batch)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        return flow.LogProb(batch).to_type(ScalarType.Float64).data<double>().ToArray();
    }

    // Four couplings with 2 hidden layers of 16 and weights drawn at a scale where every layer matters (the output layer
    // starts at zero otherwise), in evaluation mode.
    private static NormalizingFlow Flow(ScaleActivation activation, int seed, (double Min, double Max)? inputRange = null)
    {
        var flow = new NormalizingFlow(new Chain(Enumerable.Range(0, 4).Select(i => Coupling(i, activation))), [Features], inputRange: inputRange);
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        using (no_grad())
        {
            foreach (var parameter in flow.parameters())
            {
                parameter.normal_(0, 0.4, generator);
            }
        }

        flow.eval();
        return flow;
    }

    private static AffineCoupling Coupling(int index, ScaleActivation activation) =>
        new([Features], ChannelMask.Instance, index, new MlpConditionerFactory(16, 2), activation);

    private static ScaleActivation Activation(string name) => name switch
    {
        "tanh" => ScaleActivation.RealNvpTanh,
        "sigmoid" => ScaleActivation.GlowSigmoid,
        _ => ScaleActivation.SoftClamp(1.5),
    };

    private static Tensor Data(int rows, int seed)
    {
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        return randn(rows, Features, generator: generator);
    }

    // A user's activation: s = 2·tanh(raw).
    private sealed class Doubled : ScaleActivation
    {
        public override Tensor LogScale(Tensor raw, Tensor? learnableScale) => raw.tanh().TimesInPlace(2.0);
    }
}
