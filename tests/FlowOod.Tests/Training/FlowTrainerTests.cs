using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Training;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FlowTrainerTests
{
    private static readonly long[] Shape = [1, 8, 8];

    [Fact]
    public void Train_GlowWithUninitialisedActNorm_InitialisesItFromTheFirstBatchExactlyAsInitializeAllDoes()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(2);
        var images = randint(0, 256, [32, 1, 8, 8], dtype: ScalarType.Float32).DivideInPlace(255.0);
        var options = new TrainingOptions { Steps = 1, BatchSize = 8, Seed = 3, LearningRate = 1e-12 };
        random.manual_seed(4);
        using var automatic = Glow.Create([1, 8, 8], GlowOptions.Tiny with { DequantizationNoise = false });
        random.manual_seed(4);
        using var manual = Glow.Create([1, 8, 8], GlowOptions.Tiny with { DequantizationNoise = false });

        new FlowTrainer(automatic, options).Train(images);
        using (var shuffle = new TorchSharp.torch.Generator(3))
        {
            // The first batch the trainer draws: the first 8 of the seeded permutation.
            var first = images.index_select(0, randperm(32, generator: shuffle).narrow(0, 0, 8));
            ActNorm.InitializeAll(manual, first);
        }

        var initialised = automatic.modules().OfType<ActNorm>().ToList();
        initialised.Should().NotBeEmpty().And.OnlyContain(layer => layer.IsInitialized);
        var expected = manual.modules().OfType<ActNorm>().ToList();
        for (int i = 0; i < initialised.Count; i++)
        {
            foreach (var ((name, actual), (_, wanted)) in initialised[i].named_parameters().Zip(expected[i].named_parameters()))
            {
                actual.allclose(wanted, rtol: 1e-5, atol: 1e-6).Should().BeTrue($"ActNorm {i} {name} comes from the first batch");
            }
        }
    }

    [Fact]
    public void Train_SameSeedTwice_GivesBitIdenticalParameters()
    {
        using var scope = NewDisposeScope();
        var data = Images(64, seed: 1);
        var first = TrainTinyFlow(data, seed: 5);
        var second = TrainTinyFlow(data, seed: 5);

        var a = first.parameters().Select(p => p.data<float>().ToArray()).ToList();
        var b = second.parameters().Select(p => p.data<float>().ToArray()).ToList();
        a.Should().HaveCount(b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            a[i].Should().Equal(b[i], $"parameter {i} must be reproducible");
        }
    }

    [Theory]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.RmsProp)]
    public void Train_TinyFlow_LowersTheLoss(OptimizerKind optimizer)
    {
        using var scope = NewDisposeScope();
        var data = SmoothImages(128, seed: 2);
        random.manual_seed(3);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 8, Blocks = 1 });
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 40, BatchSize = 32, ProgressInterval = 1, Optimizer = optimizer });
        var before = trainer.MeanLoss(data);

        var result = trainer.Train(data);

        result.Steps.Should().Be(40);
        result.FinalLoss.Should().BeLessThan(before);
        trainer.MeanLoss(data).Should().BeLessThan(before - 0.5, "40 steps at lr 1e-3 move a fresh flow far from its initial fit");
        flow.training.Should().BeFalse("Train leaves the flow in evaluation mode");
    }

    [Fact]
    public void Train_NonFiniteLoss_ThrowsBeforeApplyingTheUpdate()
    {
        using var scope = NewDisposeScope();
        var bijector = new NanAfter(calls: 3);
        var flow = new NormalizingFlow(bijector, [4]);
        var snapshots = new List<float[]>();
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 10, BatchSize = 8, ProgressInterval = 1, LearningRate = 0.1 });

        var act = () => trainer.Train(randn(16, 4), progress: new SyncProgress<TrainingProgress>(_ => snapshots.Add(bijector.Shift)));

        act.Should().Throw<TrainingDivergedException>().Where(e => e.Step == 3 && double.IsNaN(e.Loss))
            .WithMessage("*diverged at step 3*");
        snapshots.Should().HaveCount(2);
        snapshots[1].Should().NotEqual(snapshots[0], "steps 1 and 2 were applied");
        bijector.Shift.Should().Equal(snapshots[1], "the update of the diverging step is not applied");
        flow.training.Should().BeFalse();
    }

    [Fact]
    public void Train_CancelledDuringTraining_StopsWithOperationCanceled()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        using var cancellation = new CancellationTokenSource();
        var steps = new List<int>();
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 50, BatchSize = 8, ProgressInterval = 1 });

        var act = () => trainer.Train(Images(16, seed: 4), progress: new SyncProgress<TrainingProgress>(p =>
        {
            steps.Add(p.Step);
            if (p.Step == 2)
            {
                cancellation.Cancel();
            }
        }), cancellationToken: cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        steps.Should().Equal(1, 2);
        flow.training.Should().BeFalse();
    }

    [Fact]
    public void Train_ProgressIntervalAndEpochs_ReportAtIntervalsAndAtTheEnd()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        var reports = new List<TrainingProgress>();

        // 10 examples, batch 4, 2 epochs: ceil(20 / 4) = 5 steps.
        var result = new FlowTrainer(flow, new TrainingOptions { Epochs = 2, BatchSize = 4, ProgressInterval = 2 })
            .Train(Images(10, seed: 5), progress: new SyncProgress<TrainingProgress>(reports.Add));

        result.Steps.Should().Be(5);
        reports.Select(r => r.Step).Should().Equal(2, 4, 5);
        reports.Should().OnlyContain(r => r.TotalSteps == 5 && double.IsFinite(r.Loss) && r.ExamplesPerSecond > 0);
    }

    [Fact]
    public void Train_WithEvaluationData_ReportsHeldOutLoss()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0, DequantizationNoise = false });
        var heldOut = Images(20, seed: 7);
        var reports = new List<TrainingProgress>();
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 6, BatchSize = 8, ProgressInterval = 10, EvaluationInterval = 3 });

        var result = trainer.Train(Images(32, seed: 6), evaluationData: heldOut, progress: new SyncProgress<TrainingProgress>(reports.Add));

        reports.Where(r => r.EvaluationLoss is not null).Select(r => r.Step).Should().Equal(3, 6);
        result.EvaluationLoss.Should().NotBeNull();
        result.EvaluationLoss!.Value.Should().BeApproximately(trainer.MeanLoss(heldOut), 1e-9);
    }

    [Fact]
    public void Train_DataOfTheWrongShape_ThrowsArgumentExceptionNamingTheShape()
    {
        using var scope = NewDisposeScope();
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 1 });

        var act = () => trainer.Train(rand(4, 1, 28, 28));

        act.Should().Throw<ArgumentException>().WithMessage("*[N, 1, 8, 8]*[4, 1, 28, 28]*");
    }

    [Theory]
    [InlineData(0, 64, 1e-3, 100)]
    [InlineData(10, 0, 1e-3, 100)]
    [InlineData(10, 64, 0, 100)]
    [InlineData(10, 64, double.NaN, 100)]
    [InlineData(10, 64, 1e-3, 0)]
    public void Constructor_InvalidOptions_ThrowsArgumentOutOfRange(int steps, int batch, double lr, double clip)
    {
        using var scope = NewDisposeScope();
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });

        var act = () => new FlowTrainer(flow, new TrainingOptions { Steps = steps, BatchSize = batch, LearningRate = lr, MaxGradNorm = clip });

        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    private static NormalizingFlow TrainTinyFlow(Tensor data, long seed)
    {
        random.manual_seed(seed);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 1 });
        new FlowTrainer(flow, new TrainingOptions { Steps = 6, BatchSize = 16, Seed = seed }).Train(data);
        return flow;
    }

    // Each image is one random grey level plus a little noise: far below the 8 bits/dim of uniform noise, so learnable.
    private static Tensor SmoothImages(long n, long seed)
    {
        random.manual_seed(seed);
        var level = rand(n, 1, 1, 1);
        return level.Plus(randn([n, .. Shape]).TimesInPlace(0.03)).ClampInPlace(0, 1).TimesInPlace(255).round_().DivideInPlace(255);
    }

    // Uniform 8-bit noise images (8 bits/dim is the best any model can do on them).
    private static Tensor Images(long n, long seed)
    {
        random.manual_seed(seed);
        return randint(0, 256, [n, .. Shape]).to(ScalarType.Float32).DivideInPlace(255.0);
    }


    // y = x + shift; LogDet is 0 for the first calls − 1 forward passes and NaN from then on.
    private sealed class NanAfter : Bijector
    {
        private readonly Parameter shift;
        private readonly int nanFrom;
        private int calls;

        public NanAfter(int calls)
            : base(nameof(NanAfter))
        {
            nanFrom = calls;
            shift = new Parameter(zeros(1));
            RegisterComponents();
        }

        public float[] Shift => shift.data<float>().ToArray();

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
        {
            calls++;
            var logDet = ZeroLogDet(input);
            return (input.Plus(shift), calls >= nanFrom ? logDet.PlusInPlace(double.NaN) : logDet);
        }

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.sub(shift), ZeroLogDet(input));
    }
}
