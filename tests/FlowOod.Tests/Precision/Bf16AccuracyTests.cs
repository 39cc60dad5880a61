using System;
using System.Linq;
using FlowOod.Data;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Samples.FashionMnist;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Precision;

// The accuracy guard of bf16 st-networks on a flow trained on the real data (Fashion-MNIST, MNIST as the OOD set):
// scoring with the bf16 inference copy, and mixed-precision training.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class Bf16AccuracyTests
{
    private static readonly long[] Shape = [1, 28, 28];

    [Fact]
    public void InferenceCopy_OnATrainedRealNvp_MovesBitsPerDimAndAurocByLessThanTheBounds()
    {
        using var fashion = TestSet(FlowOodDatasets.FashionMnist(DatasetSplit.Test));
        using var mnist = TestSet(FlowOodDatasets.Mnist(DatasetSplit.Test));
        using var flow = Trained(ComputePrecision.Float32, out _);
        using var fp32 = new NegativeLogLikelihoodScorer(flow);
        using var bf16 = new NegativeLogLikelihoodScorer(ConditionerPrecision.CreateInferenceCopy(flow, ComputePrecision.BFloat16), ownsFlow: true);

        var fp32In = fp32.Score(fashion);
        var fp32Out = fp32.Score(mnist);
        var bf16In = bf16.Score(fashion);
        var bf16Out = bf16.Score(mnist);

        var deltas = fp32In.Zip(bf16In, (a, b) => Math.Abs(a - b)).Concat(fp32Out.Zip(bf16Out, (a, b) => Math.Abs(a - b))).ToArray();
        deltas.Average().Should().BeLessThan(0.01, "mean |Δ bits/dim| of bf16 st-networks");
        deltas.Max().Should().BePositive("the copy really computes in bf16");
        Math.Abs(OodMetrics.Auroc(bf16In, bf16Out) - OodMetrics.Auroc(fp32In, fp32Out)).Should().BeLessThan(0.005);
    }

    [Fact]
    public void MixedPrecisionTraining_LearnsLikeFloat32AndKeepsFloat32MasterWeights()
    {
        using var fp32 = Trained(ComputePrecision.Float32, out var fp32Result);
        using var mixed = Trained(ComputePrecision.BFloat16, out var mixedResult);

        mixedResult.Precision.Should().Be(ComputePrecision.BFloat16);
        fp32Result.Precision.Should().Be(ComputePrecision.Float32);
        mixed.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32, "the optimiser updates fp32 master weights");
        ConditionerPrecision.Of(mixed).Should().Be(ComputePrecision.Float32, "the bf16 setting lasts for the run only");
        mixedResult.FinalLoss.Should().BeLessThan(6.5, "60 steps take a fresh flow from ~8 bits/dim well below that");
        Math.Abs(mixedResult.FinalLoss - fp32Result.FinalLoss).Should().BeLessThan(0.1, "bf16 st-networks train about as well in the same steps");
    }

    // A width-16 RealNVP trained 60 steps of 32 on 4096 Fashion-MNIST training images.
    private static NormalizingFlow Trained(ComputePrecision precision, out TrainingResult result)
    {
        var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train).Take(4096);
        random.manual_seed(7);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Scales = 2, Width = 16, Blocks = 1 });
        using var data = train.ToTensor(0, train.Count);
        result = new FlowTrainer(flow, new TrainingOptions { Steps = 60, BatchSize = 32, Seed = 7, Precision = precision })
            .Train(data, cancellationToken: TestContext.Current.CancellationToken);
        return flow;
    }

    private static Tensor TestSet(ImageDataset set)
    {
        var first = set.Take(500);
        return first.ToTensor(0, first.Count);
    }
}
