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
        using var scorer = FitFeatureScorer(train, steps: 5);
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
    public void FeatureSpaceScorer_LoadedInBFloat16_ScoresRowsOnTheHost_AsItsLibTorchPath()
    {
        using var train = Data(256, seed: 13);
        using var fitted = FitFeatureScorer(train, steps: 20);
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"flowood-rows-bf16-{Guid.NewGuid():N}.flowood");
        try
        {
            FlowOod.Persistence.ModelFile.Save(fitted, path);
            using var scorer = (FeatureSpaceScorer)FlowOod.Persistence.ModelFile.LoadScorer(
                path, new FlowOod.Persistence.ModelLoadOptions { Precision = ComputePrecision.BFloat16 });
            using var data = Data(HostCouplingFlow.MaxRows + 1, seed: 14);
            using var chunk = data.narrow(0, 1, HostCouplingFlow.MaxRows).contiguous();

            ConditionerPrecision.Of(scorer.Flow).Should().Be(ComputePrecision.BFloat16);
            var onHost = scorer.TryScoreRowsOnHost(chunk.data<float>().ToArray(), HostCouplingFlow.MaxRows);
            var withLibTorch = scorer.Score(data); // one row too many for the host: libtorch's bf16 path
            var float32 = fitted.Score(data);

            onHost.Should().NotBeNull("a gate loaded in bf16 keeps its managed path for small chunks");
            for (int i = 0; i < onHost!.Length; i++)
            {
                // Both bf16 paths sit within bf16 rounding of the float32 scores (measured: at most 2·10⁻³ on scores of 16–23).
                onHost[i].Should().BeApproximately(withLibTorch[i + 1], 0.01 + 1e-3 * Math.Abs(withLibTorch[i + 1]), $"row {i + 1}");
                onHost[i].Should().BeApproximately(float32[i + 1], 0.01 + 1e-3 * Math.Abs(float32[i + 1]), $"row {i + 1}, float32");
            }
        }
        finally
        {
            System.IO.File.Delete(path);
        }
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
        HostCouplingFlow.TryCreate(bf16).Should().NotBeNull("its bf16 inference copy");

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

    // One coupling whose bf16 st-network libtorch computes exactly in float32 (bf16-exact weights and hidden values, sums
    // within float32's 24 bits, no output bias), so libtorch's bf16 path and the host's differ only where the host is
    // meant to differ (it keeps hidden layers in float32, exact here too) and by float32 rounding after the network; the
    // inputs sit 2⁻¹³ off bf16 values, so a missing input or output rounding would show.
    [Theory]
    [MemberData(nameof(Activations))]
    public void BFloat16StNetworks_ScoreAsLibTorchsBFloat16Path(string activation)
    {
        using var flow = new NormalizingFlow(new Chain(Coupling(0, Activation(activation), hiddenLayers: 1)), [Features]);
        var layers = ((MlpConditioner)((AffineCoupling)((Chain)flow.Transform).Steps[0]).Conditioner).Layers.ToArray();
        var first = new float[16 * (Features / 2)];
        for (int j = 0; j < 16; j++)
        {
            first[(j * (Features / 2)) + (j % (Features / 2))] = (j % 2 == 0 ? 2f : 0.5f) * (j % 3 == 0 ? -1 : 1);
        }

        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            // Hidden unit j reads input j mod 6 times ±2 or ±½ plus a multiple of ⅛; outputs mix the 16 units by multiples of 1/32.
            layers[0].Weight.copy_(tensor(first, [16, Features / 2]));
            layers[0].Bias!.copy_(tensor(Enumerable.Range(0, 16).Select(j => ((j % 9) - 4) / 8f).ToArray()));
            layers[1].Weight.copy_(tensor(Enumerable.Range(0, Features * 16).Select(k => ((k % 17) - 8) / 32f).ToArray(), [Features, 16]));
            layers[1].Bias!.zero_();
        }

        flow.eval();
        using var data = DyadicData(HostCouplingFlow.MaxRows);
        var float32 = TorchLogProb(flow, data);
        ConditionerPrecision.ConvertForInference(flow);
        var host = HostCouplingFlow.TryCreate(flow);
        host.Should().NotBeNull("bf16 MLP st-networks have a host form");

        var managed = host!.TryCheckedLogProb(data, null, "batch")!;
        var libtorch = TorchLogProb(flow, data);

        managed.Should().NotBeNull("a bf16 flow's rows are the host's");
        for (int i = 0; i < libtorch.Length; i++)
        {
            managed[i].Should().BeApproximately(libtorch[i], 2e-4 + 1e-5 * Math.Abs(libtorch[i]), $"row {i}, {activation} (float32 rounding)");
        }

        libtorch.Zip(float32, (a, b) => Math.Abs(a - b)).Max().Should().BeGreaterThan(1e-3, "the bf16 roundings change these scores, so the comparison above sees them");
    }

    [Fact]
    public void BFloat16StNetworks_WithRandomWeights_ScoreAsCloseToFloat32AsLibTorchsBFloat16Path()
    {
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 15);
        using var data = Data(HostCouplingFlow.MaxRows, seed: 16);
        var float32 = TorchLogProb(flow, data);
        ConditionerPrecision.ConvertForInference(flow);

        var managed = HostCouplingFlow.TryCreate(flow)!.TryCheckedLogProb(data, null, "batch")!;
        var libtorch = TorchLogProb(flow, data);

        // Weights this large make the scores sensitive (hundreds of nats on 12 features): bf16 moves them by up to ~1%.
        // libtorch rounds every hidden layer to bf16 and the host only the network's input and output, so the host's scores
        // stay as close to float32's as libtorch's bf16 scores (measured on a 2-core AMD EPYC: mean distance 0.95 nats
        // against libtorch's 1.12, at most 1.1%).
        var libtorchError = libtorch.Zip(float32, (x, y) => Math.Abs(x - y)).Average();
        var hostError = managed.Zip(float32, (x, y) => Math.Abs(x - y)).Average();
        for (int i = 0; i < float32.Length; i++)
        {
            managed[i].Should().BeApproximately(float32[i], 0.1 + 0.03 * Math.Abs(float32[i]), $"row {i} in nats");
        }

        libtorchError.Should().BeGreaterThan(0, "bf16 st-networks score differently from float32 ones");
        hostError.Should().BeLessThan(2 * libtorchError, "the host's bf16 scores are as close to float32's as libtorch's bf16 scores");
    }

    [Fact]
    public void MixedPrecisionTrainingState_IsLeftToLibTorch()
    {
        // A trainer's bf16 run marks the couplings bf16 while the weights stay float32 (cast per call).
        using var flow = Flow(ScaleActivation.RealNvpTanh, seed: 17);
        var host = HostCouplingFlow.TryCreate(flow)!;
        using var data = Data(2, seed: 18);
        var couplings = flow.modules().OfType<AffineCoupling>().ToArray();
        foreach (var coupling in couplings)
        {
            coupling.ConditionerDtype = ScalarType.BFloat16;
        }

        host.TryCheckedLogProb(data, null, "batch").Should().BeNull("float32 weights under a bf16 st-network");
        foreach (var coupling in couplings)
        {
            coupling.ConditionerDtype = null;
        }

        host.TryCheckedLogProb(data, null, "batch").Should().NotBeNull();
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

    // A feature-space scorer over Data rows: 4 couplings of width 16, trained briefly.
    private static FeatureSpaceScorer FitFeatureScorer(Tensor train, int steps) =>
        FeatureSpaceScorer.FitOnFeatures(train, new FeatureSpaceFitOptions
        {
            Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16 },
            Training = new FlowOod.Training.TrainingOptions { Steps = steps, BatchSize = 64, Seed = 1 },
        });

    private static AffineCoupling Coupling(int index, ScaleActivation activation, int hiddenLayers = 2) =>
        new([Features], ChannelMask.Instance, index, new MlpConditionerFactory(16, hiddenLayers), activation);

    // Rows of ±(¼ + k/16) + 2⁻¹³: 2⁻¹³ off a bf16 value (half a bf16 step there is at least 2⁻¹⁰).
    private static Tensor DyadicData(int rows)
    {
        var values = new float[rows * Features];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ((i % 5 == 2 ? -1 : 1) * (0.25f + (i * 7 % 25) / 16f)) + (1f / 8192);
        }

        return tensor(values, [rows, Features]);
    }

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
