using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Metrics;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Testing;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FeatureSpaceScorerTests
{
    private static readonly TabularRealNvpOptions SmallFlow = new() { Couplings = 4, HiddenWidth = 32 };

    // Inputs [N, 1, 2, 2]; features = the 4 pixels, scaled and shifted so that standardisation matters.
    private static Tensor Pixels(Tensor batch) => batch.flatten(1).Times(3).Plus(1);

    [Fact]
    public void Score_EqualsNegativeLogProbOfStandardizedFeaturesInNats()
    {
        using var flow = PerturbedFlow(4, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([1.0, 0.5, -1, 2], [3.0, 1, 0.5, 2]);
        var scorer = new FeatureSpaceScorer(Pixels, flow, standardizer);
        var batch = randn(10, 1, 2, 2);

        var scores = scorer.Score(batch);

        var expected = flow.LogProb(standardizer.Apply(Pixels(batch)).to_type(ScalarType.Float64)).neg().data<double>().ToArray();
        scores.Should().HaveCount(10);
        for (int i = 0; i < 10; i++)
        {
            scores[i].Should().BeApproximately(expected[i], 1e-9 * Math.Abs(expected[i]), $"item {i}");
        }

        scorer.Name.Should().Contain("nats");
        scorer.FeatureDimension.Should().Be(4);
    }

    [Fact]
    public void Score_ChunkSizeThree_CallsTheExtractorPerChunkAndMatchesOneChunk()
    {
        using var flow = PerturbedFlow(4, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([1.0, 1, 1, 1], [3.0, 3, 3, 3]);
        var chunkRows = new List<long>();
        Tensor Recording(Tensor batch)
        {
            chunkRows.Add(batch.shape[0]);
            return Pixels(batch);
        }

        var batch = randn(10, 1, 2, 2);
        var chunked = new FeatureSpaceScorer(Recording, flow, standardizer, chunkSize: 3).Score(batch);
        chunkRows.Should().Equal(3, 3, 3, 1);
        var whole = new FeatureSpaceScorer(Pixels, flow, standardizer).Score(batch);

        for (int i = 0; i < 10; i++)
        {
            chunked[i].Should().BeApproximately(whole[i], 1e-5 * Math.Abs(whole[i]), $"item {i}");
        }
    }

    public static TheoryData<string, string> BadExtractorOutputs() => new()
    {
        { "rank 1", "*'Broken' returned shape [3]*chunk of shape [3, 1, 2, 2]*expected features of shape [3, 4]*" },
        { "wrong D", "*'Broken' returned shape [3, 5]*expected features of shape [3, 4]*" },
        { "wrong rows", "*'Broken' returned shape [2, 4]*expected features of shape [3, 4]*" },
        { "NaN", "*'Broken' returned NaN or infinite features*" },
        { "infinity", "*'Broken' returned NaN or infinite features*" },
        { "int64", "*'Broken' returned Int64 features*float32 or float64*" },
        { "null", "*'Broken' returned null*" },
        { "throws", "*'Broken' failed on a chunk of shape [3, 1, 2, 2] (Float32)*" },
    };

    [Theory]
    [MemberData(nameof(BadExtractorOutputs))]
    public void Score_ExtractorMisbehaves_ThrowsArgumentExceptionNamingTheExtractor(string problem, string message)
    {
        using var flow = PerturbedFlow(4, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([0.0, 0, 0, 0], [1.0, 1, 1, 1]);
        Tensor Broken(Tensor batch) => problem switch
        {
            "rank 1" => batch.flatten(1).sum(1),
            "wrong D" => zeros(batch.shape[0], 5),
            "wrong rows" => zeros(batch.shape[0] - 1, 4),
            "NaN" => batch.flatten(1).log().Minus(100).sqrt(),
            "infinity" => batch.flatten(1).DividedBy(0),
            "int64" => batch.flatten(1).to_type(ScalarType.Int64),
            "null" => null!,
            "throws" => batch.reshape(-1, 5),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };
        var scorer = new FeatureSpaceScorer(Broken, flow, standardizer, extractorName: "Broken");

        var act = () => scorer.Score(rand(3, 1, 2, 2).PlusInPlace(0.5));

        act.Should().Throw<ArgumentException>().WithMessage(message).Which.ParamName.Should().Be("batch");
    }

    [Fact]
    public void Score_ExtractorThrows_KeepsTheOriginalExceptionAsInner()
    {
        using var flow = PerturbedFlow(4, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([0.0, 0, 0, 0], [1.0, 1, 1, 1]);
        var scorer = new FeatureSpaceScorer(_ => throw new InvalidOperationException("inner problem"), flow, standardizer);

        var act = () => scorer.Score(zeros(2, 4));

        act.Should().Throw<ArgumentException>().WithMessage("*inner problem*")
            .WithInnerException<InvalidOperationException>();
    }

    [Theory]
    [InlineData("empty", "*empty*")]
    [InlineData("scalar", "*scalar*")]
    [InlineData("NaN", "*NaN or infinite*")]
    [InlineData("meta device", "*meta device*")]
    public void Score_BadBatch_ThrowsBeforeCallingTheExtractor(string problem, string message)
    {
        using var flow = PerturbedFlow(4, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([0.0, 0, 0, 0], [1.0, 1, 1, 1]);
        var calls = 0;
        var scorer = new FeatureSpaceScorer(b => { calls++; return Pixels(b); }, flow, standardizer);
        var batch = problem switch
        {
            "empty" => zeros(0, 1, 2, 2),
            "scalar" => tensor(1f),
            "NaN" => TestScalars.Full([2, 1, 2, 2], float.NaN),
            "meta device" => zeros(2, 1, 2, 2).to(new Device(DeviceType.META)),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };

        var act = () => scorer.Score(batch);

        act.Should().Throw<ArgumentException>().WithMessage(message);
        calls.Should().Be(0);
    }

    [Fact]
    public void Constructor_FlowDimensionDiffersFromStandardizer_Throws()
    {
        using var flow = TabularRealNvp.Create(3, SmallFlow);
        var standardizer = new FeatureStandardizer([0.0, 0, 0, 0], [1.0, 1, 1, 1]);

        var act = () => new FeatureSpaceScorer(Pixels, flow, standardizer);

        act.Should().Throw<ArgumentException>().WithMessage("*event shape must be [4]*got [3]*");
    }

    [Fact]
    public void Score_ModuleExtractorInTrainingMode_IsRefusedAndItsModeIsLeftAlone()
    {
        using var flow = PerturbedFlow(3, ScalarType.Float32);
        using var scope = NewDisposeScope();
        random.manual_seed(8);
        using var module = nn.Sequential(("flatten", nn.Flatten()), ("linear", nn.Linear(4, 3)), ("dropout", nn.Dropout(0.5)));
        module.train();
        var standardizer = new FeatureStandardizer([0.0, 0, 0], [1.0, 1, 1]);
        var scorer = new FeatureSpaceScorer(module, flow, standardizer);
        var batch = randn(6, 1, 2, 2);

        var act = () => scorer.Score(batch);

        act.Should().Throw<InvalidOperationException>().WithMessage("*Sequential*training mode*eval()*");
        module.training.Should().BeTrue("FlowOod never changes the mode of the caller's module");
        module.eval();
        var first = scorer.Score(batch);
        first.Should().Equal(scorer.Score(batch), "dropout is off in evaluation mode");
        scorer.ExtractorName.Should().Contain("Sequential", "the default name is the module's name");
        module.training.Should().BeFalse();
        using (no_grad())
        {
            var expected = flow.LogProb(module.call(batch)).neg().data<float>().ToArray();
            first.Should().Equal(
                expected.Select(e => (double)e),
                (actual, wanted) => Math.Abs(actual - wanted) <= 1e-5 * Math.Max(1, Math.Abs(wanted)),
                "the score is −log p of the extracted features (6 rows are computed in managed code: float32 rounding apart)");
        }
    }

    [Fact]
    public void Score_Batch_LeavesNoLiveTensors()
    {
        using var flow = PerturbedFlow(4, ScalarType.Float32);
        var standardizer = new FeatureStandardizer([0.0, 0, 0, 0], [1.0, 1, 1, 1]);
        var scorer = new FeatureSpaceScorer(Pixels, flow, standardizer, chunkSize: 4);
        using var scope = NewDisposeScope();
        var batch = randn(10, 1, 2, 2);
        DisposeScopeManager.Statistics.Reset();
        var baseline = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        scorer.Score(batch);

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(
            baseline, $"scoring must free every temporary ({DisposeScopeManager.Statistics})");
    }

    [Fact]
    public void Fit_ShiftedAndScaledGaussianFeatures_StandardizesAndDetectsAShift()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        var train = randn(3000, 1, 2, 2);

        var scorer = FeatureSpaceScorer.Fit(
            Pixels,
            train,
            new FeatureSpaceFitOptions
            {
                Flow = SmallFlow,
                Training = new TrainingOptions { Steps = 300, BatchSize = 128, LearningRate = 3e-3, Seed = 11 },
            },
            cancellationToken: TestContext.Current.CancellationToken);

        scorer.Standardizer.Mean.Should().AllSatisfy(m => m.Should().BeApproximately(1, 0.2));
        scorer.Standardizer.StandardDeviation.Should().AllSatisfy(s => s.Should().BeApproximately(3, 0.2));
        scorer.Flow.EventShape.Should().Equal(4);
        var inScores = scorer.Score(randn(1000, 1, 2, 2));
        var shiftedScores = scorer.Score(randn(1000, 1, 2, 2).PlusInPlace(2.5));
        OodMetrics.Auroc(inScores, shiftedScores).Should().BeGreaterThan(0.99);
        scorer.Flow.Dispose();
    }

    [Fact]
    public void Fit_ModuleExtractor_NeedsEvaluationModeAndMatchesStandardizerDimension()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(12);
        using var module = nn.Sequential(("flatten", nn.Flatten()), ("linear", nn.Linear(4, 3)));
        module.train();

        var options = new FeatureSpaceFitOptions { Flow = SmallFlow, Training = new TrainingOptions { Steps = 5, BatchSize = 50 } };
        var inTraining = () => FeatureSpaceScorer.Fit(module, randn(200, 1, 2, 2), options);

        inTraining.Should().Throw<InvalidOperationException>().WithMessage("*training mode*");
        module.training.Should().BeTrue();
        module.eval();
        using var scorer = FeatureSpaceScorer.Fit(module, randn(200, 1, 2, 2), options);
        module.training.Should().BeFalse();
        scorer.OwnsFlows.Should().BeTrue("Fit created the flow");
        scorer.FeatureDimension.Should().Be(3);
        scorer.Score(randn(4, 1, 2, 2)).Should().OnlyContain(s => double.IsFinite(s));
    }

    [Fact]
    public void FitOptions_MissingOrInvalidSettings_ThrowBeforeAnyExtraction()
    {
        var calls = 0;
        Tensor Counting(Tensor b)
        {
            calls++;
            return b.flatten(1);
        }

        var input = randn(20, 1, 2, 2);
        var nullTraining = () => FeatureSpaceScorer.Fit(Counting, input, new FeatureSpaceFitOptions { Training = null! });
        var nullFlow = () => FeatureSpaceScorer.Fit(Counting, input, new FeatureSpaceFitOptions { Flow = null! });
        var badSteps = () => FeatureSpaceScorer.Fit(Counting, input, new FeatureSpaceFitOptions { Training = new TrainingOptions { Steps = 0 } });

        nullTraining.Should().Throw<ArgumentNullException>().WithParameterName(nameof(FeatureSpaceFitOptions.Training));
        nullFlow.Should().Throw<ArgumentNullException>().WithParameterName(nameof(FeatureSpaceFitOptions.Flow));
        badSteps.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(TrainingOptions.Steps));
        calls.Should().Be(0);
        new FeatureSpaceFitOptions().Device.Should().BeNull("the default device is the CPU");
    }

    [Fact]
    public void Fit_OneFeature_ThrowsNamingTheExtractor()
    {
        using var scope = NewDisposeScope();

        var act = () => FeatureSpaceScorer.Fit(
            b => b.flatten(1).narrow(1, 0, 1),
            randn(20, 1, 2, 2),
            new FeatureSpaceFitOptions { Flow = SmallFlow, Training = new TrainingOptions { Steps = 1 } });

        act.Should().Throw<ArgumentException>().WithMessage("*returned 1 feature per input*at least 2*");
    }

    // A tabular flow with non-identity couplings (the last st-layer starts at zero), in eval() mode.
    private static NormalizingFlow PerturbedFlow(long features, ScalarType dtype)
    {
        random.manual_seed(5);
        var flow = TabularRealNvp.Create(features, SmallFlow);
        flow.to(dtype);
        BijectorCase.Perturb(flow);
        flow.eval();
        return flow;
    }
}
