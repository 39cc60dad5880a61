using System;
using System.Linq;
using FlowOod.Detection;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Tests.Gating;
using FlowOod.Tests.Scoring;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Detection;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ImageDetectorsTests
{
    // Tiny flows and short runs: every score kind end to end on 8×8 images.
    private static ImageDetectorOptions Tiny(ImageScore score) => new()
    {
        Score = score,
        Flow = new RealNvpOptions { Scales = 1, Width = 4, Blocks = 1 },
        LocalFlow = SingleScaleRealNvpOptions.Local with { Couplings = 2, Conditioner = new FlowOod.Conditioners.LocalConditionerFactory(3, 4, 1) },
        Training = new TrainingOptions { Steps = 4, BatchSize = 16, LearningRate = 1e-3, Seed = 2 },
        Rotation = new RotationPredictionOptions { Width = 2, Hidden = 4, Steps = 3, BatchSize = 16, Seed = 2 },
        TargetFalsePositiveRate = 0.1,
        CalibrationFraction = 0.2,
        FitFraction = 0.2,
    };

    public static TheoryData<ImageScore> Scores => new(Enum.GetValues<ImageScore>());

    [Theory]
    [MemberData(nameof(Scores))]
    public void Fit_EveryScore_GivesACalibratedDetectorOfThatScore_ThatWorksBehindAGate(ImageScore score)
    {
        random.manual_seed(11);
        using var scope = NewDisposeScope();
        var images = ScoringFlows.EightBitImages(100, ScalarType.Float32);

        using var detector = ImageDetectors.Fit(images, Tiny(score));

        detector.TargetFalsePositiveRate.Should().Be(0.1);
        detector.CalibrationScores.Should().HaveCount(20, "a fifth of the 100 images calibrate");
        var expected = score switch
        {
            ImageScore.InputComplexity => typeof(InputComplexityScorer),
            ImageScore.Dose => typeof(DoseScorer),
            ImageScore.LocalLikelihoodRatio => typeof(LocalLikelihoodRatioScorer),
            ImageScore.TwoSidedLocalLikelihoodRatio => typeof(TwoSidedScorer),
            ImageScore.Typicality => typeof(TypicalityScorer),
            ImageScore.Stirring => typeof(StirringScorer),
            ImageScore.RotationPrediction => typeof(RotationPredictionScorer),
            ImageScore.DoseAndRotation => typeof(ScoreDensityScorer),
            _ => typeof(NegativeLogLikelihoodScorer),
        };
        detector.Scorer.Should().BeOfType(expected);
        using var classifier = GateTestModels.Cnn(seed: 5);
        using var gate = OodGate.Create(classifier, detector, GateTestModels.InputShape);
        gate.Classify(ScoringFlows.EightBitImages(3, ScalarType.Float32)).Should().HaveCount(3);
    }

    [Fact]
    public void Fit_RejectsWhatIsNotABatchOfImages_AndTooFewImages()
    {
        using var scope = NewDisposeScope();
        var rows = rand(50, 64);
        var notImages = () => ImageDetectors.Fit(rows, Tiny(ImageScore.NegativeLogLikelihood));
        notImages.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*[N, C, H, W]*[50, 64]*");

        var few = ScoringFlows.EightBitImages(20, ScalarType.Float32);
        var tooFew = () => ImageDetectors.Fit(few, Tiny(ImageScore.NegativeLogLikelihood));
        tooFew.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*needs at least 10 for calibration*");

        var badRate = () => ImageDetectors.Fit(few, Tiny(ImageScore.Dose) with { TargetFalsePositiveRate = 1.5 });
        badRate.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("TargetFalsePositiveRate");

        var wide = zeros(100, 1, 8, 12);
        var notSquare = () => ImageDetectors.Fit(wide, Tiny(ImageScore.DoseAndRotation));
        notSquare.Should().Throw<ArgumentException>().WithParameterName("images").WithMessage("*square images*[100, 1, 8, 12]*ImageScore.Dose*");
    }
}
