using System;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class TabularRealNvpTests
{
    [Fact]
    public void Create_Defaults_ContinuousFlowOfEightMlpCouplings()
    {
        using var flow = TabularRealNvp.Create(2);

        flow.EventShape.Should().Equal(2);
        flow.InputRange.Should().BeNull();
        flow.DiscretizationLevels.Should().BeNull();
        var couplings = flow.modules().OfType<AffineCoupling>().ToList();
        couplings.Should().HaveCount(8);
        // Even layers transform feature 0 conditioned on feature 1; odd layers the reverse.
        couplings.Select(c => c.Mask.Condition[0]).Should().Equal(false, true, false, true, false, true, false, true);
        couplings.Select(c => c.Mask.Condition[1]).Should().Equal(true, false, true, false, true, false, true, false);

        // Per coupling on D = 2 (1 conditioning feature, 1 transformed): Linear(1, 256) 512 + Linear(256, 2) 514 +
        // the coupling's scale 1 = 1027; 8 couplings = 8216.
        flow.parameters().Sum(p => p.numel()).Should().Be(8216);
    }

    [Fact]
    public void Create_OddFeatureCount_SplitsHalvesAndKeepsShape()
    {
        random.manual_seed(20);
        using var flow = TabularRealNvp.Create(5, new TabularRealNvpOptions { Couplings = 3, HiddenWidth = 16 });
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();

        var logProb = flow.LogProb(randn(4, 5));

        logProb.shape.Should().Equal(4);
        flow.modules().OfType<AffineCoupling>().First().Mask.Condition.ToArray().Should().Equal(false, false, true, true, true);
    }

    [Fact]
    public void Train_TwoDimensionalGaussian_LossDropsAndRoundTripHolds()
    {
        random.manual_seed(21);
        // x = μ + L·ε with μ = (1, −2) and L L^T = [[2, 1.2], [1.2, 1]]; its entropy (the best reachable NLL) is
        // log(2πe) + ½·log det Σ = 2.838 − 0.290 ≈ 2.55 nats; the fresh flow (identity, N(0, I)) scores ≈ 5.8 nats.
        using var scope = NewDisposeScope();
        var epsilon = randn(1024, 2);
        var cholesky = tensor(new[] { Math.Sqrt(2), 0, 1.2 / Math.Sqrt(2), Math.Sqrt(0.28) }, dtype: ScalarType.Float32).reshape(2, 2);
        var data = epsilon.matmul(cholesky.t()).PlusInPlace(tensor(new[] { 1f, -2f }));
        using var flow = TabularRealNvp.Create(2, new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 32 });
        var before = MeanNll(flow, data);

        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 200, BatchSize = 128, LearningRate = 3e-3, Seed = 5 });

        var result = trainer.Train(data, cancellationToken: TestContext.Current.CancellationToken);

        var after = MeanNll(flow, data);
        before.Should().BeApproximately(5.8, 0.4);
        after.Should().BeLessThan(before - 2.0, $"training must fit the Gaussian (before {before:F3}, after {after:F3} nats)");
        after.Should().BeGreaterThan(2.3, "no flow beats the entropy of the data by much on 1024 samples (a wrong LogDet sign would)");
        double.IsFinite(result.FinalLoss).Should().BeTrue();
        using (no_grad())
        {
            flow.LogProb(data).isfinite().all().ReadBoolean().Should().BeTrue();
            var (latent, logDet) = flow.Transform.Forward(data);
            var (recovered, inverseLogDet) = flow.Transform.Inverse(latent);
            recovered.allclose(data, 1e-5, 1e-5).Should().BeTrue("Inverse(Forward(x)) ≈ x");
            logDet.Plus(inverseLogDet).abs().max().ReadDouble().Should().BeLessThan(1e-4);
            logDet.abs().max().ReadDouble().Should().BeGreaterThan(0.1, "the trained couplings are not the identity");
        }

        var samples = flow.Sample(16);
        samples.shape.Should().Equal(16, 2);
        samples.isfinite().all().ReadBoolean().Should().BeTrue();
    }

    [Fact]
    public void Create_InvalidArguments_Throw()
    {
        new Action(() => TabularRealNvp.Create(1)).Should().Throw<ArgumentOutOfRangeException>().Where(e => e.Message.Contains("at least 2"));
        new Action(() => TabularRealNvp.Create(4, new TabularRealNvpOptions { Couplings = 0 })).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => TabularRealNvp.Create(4, new TabularRealNvpOptions { HiddenWidth = 0 })).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => TabularRealNvp.Create(4, new TabularRealNvpOptions { HiddenLayers = -1 })).Should().Throw<ArgumentOutOfRangeException>();
        new Action(() => TabularRealNvp.Create(4, new TabularRealNvpOptions { Dropout = 1 })).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Options_Defaults_MatchReferenceScript()
    {
        var options = new TabularRealNvpOptions();

        options.Couplings.Should().Be(8);
        options.HiddenWidth.Should().Be(256);
        options.HiddenLayers.Should().Be(1);
        options.Dropout.Should().Be(0);
    }

    private static double MeanNll(NormalizingFlow flow, Tensor data)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return flow.LogProb(data).mean().neg().ReadDouble();
    }
}
