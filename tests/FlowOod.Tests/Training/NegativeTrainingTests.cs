using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Training;

// Negative training (Kirichenko et al. 2020, App. B): L = ½(mean NLL_in − mean of the negatives' NLL below the bound).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class NegativeTrainingTests
{
    private static readonly long[] Shape = [1, 8, 8];

    [Fact]
    public void NegativeObjective_KnownCase_HasThePaperValueAndZeroGradientPastTheBound()
    {
        using var scope = NewDisposeScope();
        using var flow = new NormalizingFlow(new Shift(), [4]);
        // Continuous data, D = 4: bits/dim = −log p / (4 ln 2). The negative at log p = −1 is 0.36 bits/dim (kept under a
        // bound of 10); the one at −100 is 36.1 bits/dim (past it).
        var inLogProb = tensor(new[] { -2.0, -4.0 }).requires_grad_();
        var negativeLogProb = tensor(new[] { -1.0, -100.0 }).requires_grad_();

        var (loss, kept) = FlowTrainer.NegativeObjective(flow, inLogProb, negativeLogProb, boundBitsPerDim: 10);
        loss.backward();

        kept.Should().Be(1);
        loss.ReadDouble().Should().BeApproximately(0.5 * (3.0 - 1.0), 1e-12, "½ · (mean in-dist NLL 3 − kept negative NLL 1)");
        inLogProb.grad!.data<double>().ToArray().Should().Equal(-0.25, -0.25);
        var negativeGradient = negativeLogProb.grad!.data<double>().ToArray();
        negativeGradient[0].Should().Be(0.5, "the negative below the bound is pushed to lower likelihood");
        negativeGradient[1].Should().Be(0, "the negative past the bound contributes nothing");
    }

    [Fact]
    public void NegativeObjective_EveryNegativePastTheBound_IsTheInDistributionNllAlone()
    {
        using var scope = NewDisposeScope();
        using var flow = new NormalizingFlow(new Shift(), [4]);
        var inLogProb = tensor(new[] { -2.0, -4.0 }).requires_grad_();
        var negativeLogProb = tensor(new[] { -500.0, -100.0 }).requires_grad_();

        var (loss, kept) = FlowTrainer.NegativeObjective(flow, inLogProb, negativeLogProb, boundBitsPerDim: 10);
        loss.backward();

        kept.Should().Be(0);
        loss.ReadDouble().Should().Be(3.0);
        inLogProb.grad!.data<double>().ToArray().Should().Equal(-0.5, -0.5);
        (negativeLogProb.grad is null || negativeLogProb.grad.abs().max().ReadDouble() == 0).Should().BeTrue();
    }

    [Fact]
    public void TrainWithNegatives_NegativesPastTheBound_GivesExactlyPlainTraining_AndBelowItDoesNot()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var data = randn(new long[] { 16, 4 }, generator: generator).TimesInPlace(0.5);
        var options = new TrainingOptions { Steps = 3, BatchSize = 8, LearningRate = 0.05, Seed = 2 };
        var far = TestScalars.Full([8, 4], 1000.0); // NLL ≈ 2·10⁶ nats, far past a 10 bits/dim bound
        var near = TestScalars.Full([8, 4], 1.0);   // NLL ≈ 5.7 nats = 2.1 bits/dim, below it

        float[] Trained(Tensor? negatives)
        {
            var bijector = new Shift();
            using var flow = new NormalizingFlow(bijector, [4]);
            var trainer = new FlowTrainer(flow, options);
            _ = negatives is null
                ? trainer.Train(data)
                : trainer.TrainWithNegatives(data, negatives, new NegativeTrainingOptions { BoundBitsPerDim = 10 });
            return bijector.Values;
        }

        var plain = Trained(null);
        plain.Should().NotEqual(new float[4], "plain training moves the shift");
        Trained(far).Should().Equal(plain, "negatives past the bound add nothing to the gradient");
        Trained(near).Should().NotEqual(plain, "negatives below the bound change the update");
    }

    [Fact]
    public void TrainWithNegatives_TinyFlow_RaisesTheNegativesLossAndLowersTheInDistributionLoss()
    {
        using var scope = NewDisposeScope();
        var data = SmoothImages(128, seed: 2);
        var negatives = NoiseImages(128, seed: 3);
        random.manual_seed(3);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 8, Blocks = 1 });
        var reports = new List<TrainingProgress>();
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 30, BatchSize = 32, ProgressInterval = 10 });
        var inBefore = trainer.MeanLoss(data);
        var negativeBefore = trainer.MeanLoss(negatives);

        var result = trainer.TrainWithNegatives(data, negatives, new NegativeTrainingOptions(), progress: new SyncProgress<TrainingProgress>(reports.Add));

        trainer.MeanLoss(data).Should().BeLessThan(inBefore, "the in-distribution likelihood still goes up");
        trainer.MeanLoss(negatives).Should().BeGreaterThan(negativeBefore + 0.5, "the negatives' likelihood goes down");
        reports.Select(r => r.Step).Should().Equal(10, 20, 30);
        reports.Should().OnlyContain(r => r.NegativeLoss.HasValue && double.IsFinite(r.NegativeLoss.Value) && double.IsFinite(r.Loss));
        result.NegativeLoss.Should().Be(reports[^1].NegativeLoss);
        flow.training.Should().BeFalse();
    }

    [Fact]
    public void Train_Plain_ReportsNoNegativeLoss()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        var reports = new List<TrainingProgress>();

        var result = new FlowTrainer(flow, new TrainingOptions { Steps = 2, BatchSize = 8, ProgressInterval = 1 })
            .Train(NoiseImages(16, seed: 4), progress: new SyncProgress<TrainingProgress>(reports.Add));

        reports.Should().HaveCount(2).And.OnlyContain(r => r.NegativeLoss == null);
        result.NegativeLoss.Should().BeNull();
    }

    [Fact]
    public void TrainWithNegatives_BadNegatives_ThrowClearArgumentExceptions()
    {
        using var scope = NewDisposeScope();
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 1, BatchSize = 4 });
        var data = NoiseImages(8, seed: 5);
        var negative = new NegativeTrainingOptions();

        trainer.Invoking(t => t.TrainWithNegatives(data, rand(4, 1, 28, 28), negative))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "negatives").WithMessage("*negatives*[N, 1, 8, 8]*[4, 1, 28, 28]*");
        using var two = 2.0.ToScalar();
        trainer.Invoking(t => t.TrainWithNegatives(data, full(new long[] { 4, 1, 8, 8 }, two), negative))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "negatives");
        trainer.Invoking(t => t.TrainWithNegatives(data, zeros(new long[] { 4, 1, 8, 8 }, dtype: ScalarType.Int64), negative))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "negatives");
        trainer.Invoking(t => t.TrainWithNegatives(data, zeros(0, 1, 8, 8), negative))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "negatives");
        trainer.Invoking(t => t.TrainWithNegatives(data, null!, negative)).Should().Throw<ArgumentNullException>();
        trainer.Invoking(t => t.TrainWithNegatives(data, NoiseImages(4, seed: 6), null!)).Should().Throw<ArgumentNullException>();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void TrainWithNegatives_BoundNotPositiveAndFinite_ThrowsArgumentOutOfRange(double bound)
    {
        using var scope = NewDisposeScope();
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 0 });
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 1, BatchSize = 4 });

        trainer.Invoking(t => t.TrainWithNegatives(NoiseImages(8, seed: 7), NoiseImages(8, seed: 8), new NegativeTrainingOptions { BoundBitsPerDim = bound }))
            .Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "BoundBitsPerDim");
    }

    [Fact]
    public void PaperBound_Is30000NatsPerImageIn784Dimensions()
    {
        NegativeTrainingOptions.PaperBoundBitsPerDim.Should().BeApproximately(55.206, 1e-3);
        new NegativeTrainingOptions().BoundBitsPerDim.Should().Be(NegativeTrainingOptions.PaperBoundBitsPerDim);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TrainWithOrWithoutNegatives_FreesEveryTensorItCreates(bool withNegatives)
    {
        random.manual_seed(9);
        using var flow = Glow.Create(Shape, GlowOptions.Tiny);
        using var data = SmoothImages(32, seed: 9);
        using var negatives = NoiseImages(12, seed: 10); // fewer than 2 batches: the negatives are reshuffled
        using var heldOut = SmoothImages(8, seed: 11);
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 4, BatchSize = 8, ProgressInterval = 1, EvaluationInterval = 2 });
        void Run() => _ = withNegatives
            ? trainer.TrainWithNegatives(data, negatives, new NegativeTrainingOptions(), heldOut, new SyncProgress<TrainingProgress>(_ => { }))
            : trainer.Train(data, heldOut, new SyncProgress<TrainingProgress>(_ => { }));

        Run(); // first use: ActNorm initialisation, gradients, lazily created natives
        var baseline = Concurrency.SettledTensorCount();
        Run();
        (Tensor.TotalCount - baseline).Should().Be(0, "every tensor of a training run (with negatives: {0}) is freed, without the finalizer", withNegatives);
    }

    private static Tensor SmoothImages(long n, long seed)
    {
        random.manual_seed(seed);
        var level = rand(n, 1, 1, 1);
        return level.Plus(randn([n, .. Shape]).TimesInPlace(0.03)).ClampInPlace(0, 1).TimesInPlace(255).round_().DivideInPlace(255);
    }

    private static Tensor NoiseImages(long n, long seed)
    {
        random.manual_seed(seed);
        return randint(0, 256, [n, .. Shape]).to(ScalarType.Float32).DivideInPlace(255.0);
    }

    // y = x + shift (a learnable [4] vector), log-det 0: NLL(x) = ½‖x + shift‖² + 2 ln 2π under N(0, I₄).
    private sealed class Shift : Bijector
    {
        private readonly Parameter shift;

        public Shift()
            : base(nameof(Shift))
        {
            shift = new Parameter(zeros(4));
            RegisterComponents();
        }

        public float[] Values => shift.data<float>().ToArray();

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.Plus(shift), ZeroLogDet(input));

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.sub(shift), ZeroLogDet(input));
    }
}
