using System;
using System.IO;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;
using FlowOod.Persistence;
using FlowOod.Testing;
using FlowOod.Tests.Data;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Bijectors;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ActNormTests
{
    private static readonly double[] ChannelStds = [3.0, 0.1, 1.0];
    private static readonly double[] ChannelMeans = [5.0, -1.0, 0.0];
    private static readonly float[] FeatureStds = [0.5f, 2f, 10f, 1f];

    [Fact]
    public void Forward_Uninitialised_ThrowsInvalidOperationExceptionSayingToCallInitializeFrom()
    {
        using var actNorm = new ActNorm(3);
        using var scope = NewDisposeScope();
        var input = randn(2, 3, 4, 4);

        var forward = () => actNorm.Forward(input);
        var inverse = () => actNorm.Inverse(input);

        forward.Should().Throw<InvalidOperationException>().WithMessage("*not initialised*InitializeFrom(batch)*load a state dict*");
        inverse.Should().Throw<InvalidOperationException>().WithMessage("*not initialised*InitializeFrom(batch)*");
        actNorm.IsInitialized.Should().BeFalse();
    }

    [Fact]
    public void InitializeFrom_ImageBatch_ForwardGivesZeroMeanUnitStdPerChannel()
    {
        random.manual_seed(1);
        using var actNorm = new ActNorm(3);
        actNorm.to(ScalarType.Float64);
        using var scope = NewDisposeScope();
        // Channels with means 5, -1, 0 and standard deviations 3, 0.1, 1.
        var batch = randn(16, 3, 4, 4, dtype: ScalarType.Float64)
            .mul(tensor(ChannelStds, dtype: ScalarType.Float64).reshape(1, 3, 1, 1))
            .Plus(tensor(ChannelMeans, dtype: ScalarType.Float64).reshape(1, 3, 1, 1));

        actNorm.InitializeFrom(batch);
        var (output, logDet) = actNorm.Forward(batch);

        actNorm.IsInitialized.Should().BeTrue();
        var perChannel = output.transpose(0, 1).reshape(3, -1);
        perChannel.mean([1]).ShouldBeCloseTo(zeros(3, dtype: ScalarType.Float64), 0, 1e-12, "per-channel mean");
        perChannel.std(1, unbiased: false).ShouldBeCloseTo(ones(3, dtype: ScalarType.Float64), 1e-5, 0, "per-channel std");
        var logScale = actNorm.named_parameters().Single(p => p.name == "log_scale").parameter;
        logDet.ShouldBeCloseTo(logScale.sum().Times(16).expand(16), 1e-14, 0, "LogDet = H·W·Σ log s");
    }

    [Fact]
    public void InitializeFrom_VectorBatch_ForwardGivesZeroMeanUnitStdPerFeature()
    {
        random.manual_seed(2);
        using var actNorm = new ActNorm(4);
        using var scope = NewDisposeScope();
        var batch = randn(64, 4).mul(tensor(FeatureStds));

        actNorm.InitializeFrom(batch);
        var (output, logDet) = actNorm.Forward(batch);

        output.mean([0]).ShouldBeCloseTo(zeros(4), 0, 1e-5, "per-feature mean");
        output.std(0, unbiased: false).ShouldBeCloseTo(ones(4), 1e-4, 0, "per-feature std");
        var logScale = actNorm.named_parameters().Single(p => p.name == "log_scale").parameter;
        logDet.ShouldBeCloseTo(logScale.sum().expand(64), 1e-6, 0, "LogDet = Σ log s for vectors");
    }

    [Fact]
    public void InitializeFrom_BadBatches_ThrowArgumentExceptionNamingTheProblem()
    {
        using var actNorm = new ActNorm(3);
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => actNorm.InitializeFrom(randn(4, 2, 3, 3)))
            .Should().Throw<ArgumentException>().WithMessage("*3 channels*[4, 2, 3, 3]*");
        FluentActions.Invoking(() => actNorm.InitializeFrom(randn(1, 3)))
            .Should().Throw<ArgumentException>().WithMessage("*at least 2 values per channel*");
        using var nan = float.NaN.ToScalar();
        FluentActions.Invoking(() => actNorm.InitializeFrom(full(4, 3, nan)))
            .Should().Throw<ArgumentException>().WithMessage("*NaN or infinite*");
        actNorm.IsInitialized.Should().BeFalse("a failed initialisation leaves the layer uninitialised");
    }

    [Fact]
    public void Load_StateDictSavedAfterInitialisation_RestoresInitializedFlagAndGivesIdenticalOutputs()
    {
        random.manual_seed(3);
        using var folder = new TempFolder();
        var path = folder.Combine("actnorm.bin");
        using var trained = new ActNorm(3);
        trained.to(ScalarType.Float64);
        using (var batch = randn(8, 3, 2, 2, dtype: ScalarType.Float64).TimesInPlace(4).PlusInPlace(2))
        {
            trained.InitializeFrom(batch);
        }

        trained.save(path);
        using var fresh = new ActNorm(3);
        fresh.to(ScalarType.Float64);
        fresh.IsInitialized.Should().BeFalse();

        fresh.load(path);

        fresh.IsInitialized.Should().BeTrue();
        var flag = fresh.named_buffers().Should().ContainSingle(b => b.name == "initialized").Subject.buffer;
        flag.item<bool>().Should().BeTrue("the state dict's initialized = 1 is restored");
        using var scope = NewDisposeScope();
        var input = randn(5, 3, 2, 2, dtype: ScalarType.Float64);
        var (expected, expectedLogDet) = trained.Forward(input);
        var (actual, actualLogDet) = fresh.Forward(input);
        actual.ShouldEqualExactly(expected, "output after save → load");
        actualLogDet.ShouldEqualExactly(expectedLogDet, "LogDet after save → load");
    }

    [Fact]
    public void ForwardAndInverse_Initialised_NeverReadTheFlagFromTheBuffer()
    {
        random.manual_seed(11);
        using var actNorm = new ActNorm(3);
        using var scope = NewDisposeScope();
        actNorm.InitializeFrom(randn(8, 3, 2, 2));

        for (int i = 0; i < 5; i++)
        {
            var (output, _) = actNorm.Forward(randn(4, 3, 2, 2));
            actNorm.Inverse(output);
        }

        actNorm.IsInitialized.Should().BeTrue();
        actNorm.BufferReads.Should().Be(0, "InitializeFrom sets the host-side flag; Forward and Inverse must not copy the buffer to the host");
    }

    [Fact]
    public void LoadStateDict_IntoFreshLayer_ReportsInitialisedAndReadsTheBufferOnce()
    {
        random.manual_seed(12);
        using var trained = new ActNorm(3);
        using var fresh = new ActNorm(3);
        trained.to(ScalarType.Float64);
        fresh.to(ScalarType.Float64);
        using var scope = NewDisposeScope();
        trained.InitializeFrom(randn(8, 3, 2, 2, dtype: ScalarType.Float64).TimesInPlace(3).PlusInPlace(1));
        fresh.IsInitialized.Should().BeFalse();
        var readsBeforeLoad = fresh.BufferReads;

        fresh.load_state_dict(trained.state_dict());

        fresh.IsInitialized.Should().BeTrue();
        var input = randn(4, 3, 2, 2, dtype: ScalarType.Float64);
        for (int i = 0; i < 3; i++)
        {
            fresh.Forward(input).Output.ShouldEqualExactly(trained.Forward(input).Output, "output after load_state_dict");
        }

        fresh.BufferReads.Should().Be(readsBeforeLoad + 1, "the flag is copied to the host once after the load, not per call");
        ActNorm.InitializeAll(fresh, randn(8, 3, 2, 2, dtype: ScalarType.Float64)).Should().Be(0, "a loaded initialised layer is not re-initialised");
    }

    [Fact]
    public void LoadStateDict_UninitialisedStateIntoInitialisedLayer_ReportsUninitialisedAndForwardThrows()
    {
        random.manual_seed(13);
        using var initialised = new ActNorm(2);
        using var fresh = new ActNorm(2);
        using var scope = NewDisposeScope();
        initialised.InitializeFrom(randn(8, 2));
        initialised.Forward(randn(3, 2));

        initialised.load_state_dict(fresh.state_dict());

        initialised.IsInitialized.Should().BeFalse();
        var forward = () => initialised.Forward(randn(3, 2));
        forward.Should().Throw<InvalidOperationException>().WithMessage("*not initialised*");
    }

    [Fact]
    public void Load_FileOfInitialisedLayerIntoChain_ReportsInitialisedWithOneBufferRead()
    {
        random.manual_seed(14);
        using var folder = new TempFolder();
        var path = folder.Combine("chain.bin");
        using var trained = new Chain(new ActNorm(2), new ActNorm(2));
        trained.to(ScalarType.Float64);
        ActNorm.InitializeAll(trained, randn(8, 2, 3, 3, dtype: ScalarType.Float64).TimesInPlace(2));
        trained.save(path);
        using var fresh = new Chain(new ActNorm(2), new ActNorm(2));
        fresh.to(ScalarType.Float64);
        var layers = fresh.modules().OfType<ActNorm>().ToList();
        layers.Should().OnlyContain(a => !a.IsInitialized);
        var readsBeforeLoad = layers.Select(a => a.BufferReads).ToList();

        fresh.load(path);

        using var scope = NewDisposeScope();
        var input = randn(4, 2, 3, 3, dtype: ScalarType.Float64);
        fresh.Forward(input).Output.ShouldEqualExactly(trained.Forward(input).Output, "output after load");
        fresh.Forward(input);
        layers.Should().OnlyContain(a => a.IsInitialized);
        layers.Select(a => a.BufferReads).Should().Equal(readsBeforeLoad.Select(r => r + 1), "one read after the load, none per call");
    }

    [Fact]
    public void ModelFileLoad_GlowWithInitialisedActNorms_ReportsInitialisedWithoutReinitialising()
    {
        random.manual_seed(15);
        using var folder = new TempFolder();
        var path = folder.Combine("glow.flowood");
        using var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny with { DequantizationNoise = false });
        flow.to(ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = randint(0, 256, [8, 1, 8, 8], dtype: ScalarType.Float64).DivideInPlace(255.0);
        ActNorm.InitializeAll(flow, batch).Should().BePositive();
        flow.eval();
        ModelFile.Save(flow, path);

        using var loaded = ModelFile.LoadFlow(path);

        var layers = loaded.modules().OfType<ActNorm>().ToList();
        layers.Should().NotBeEmpty().And.OnlyContain(a => a.IsInitialized);
        var readsAfterLoad = layers.Select(a => a.BufferReads).ToList();
        ActNorm.InitializeAll(loaded, batch).Should().Be(0, "a loaded initialised flow is not re-initialised");
        var expected = flow.LogProb(batch);
        loaded.LogProb(batch).ShouldEqualExactly(expected, "LogProb after ModelFile save → load");
        loaded.LogProb(batch);
        layers.Select(a => a.BufferReads).Should().Equal(readsAfterLoad, "the flag is not copied to the host per call");
    }

    [Fact]
    public void StateDict_NewLayer_HasBiasLogScaleAndInitializedEntries()
    {
        using var actNorm = new ActNorm(2);

        actNorm.state_dict().Keys.Should().BeEquivalentTo("bias", "log_scale", "initialized");
        actNorm.parameters().Should().HaveCount(2);
    }

    [Fact]
    public void Constructor_InsideDisposeScope_ParametersOutliveTheScope()
    {
        ActNorm actNorm;
        using (NewDisposeScope())
        {
            actNorm = new ActNorm(2);
        }

        using (actNorm)
        {
            using var scope = NewDisposeScope();
            actNorm.InitializeFrom(randn(4, 2));
            var (output, _) = actNorm.Forward(randn(4, 2));
            output.ShouldBeAllFinite("output of an ActNorm created inside a dispose scope");
        }
    }

    [Fact]
    public void InitializeAll_ChainWithTwoActNorms_InitialisesEachOnTheDataReachingItInOrder()
    {
        random.manual_seed(4);
        var first = new ActNorm(4);
        var mixing = new LuInvertibleConv1x1(4);
        var coupling = new AffineCoupling([4, 3, 3], ChannelMask.Instance, 0, new ResNetConditionerFactory(8, 1));
        var second = new ActNorm(4);
        using var chain = new Chain(first, mixing, coupling, second);
        chain.to(ScalarType.Float64);
        BijectorCase.Perturb(mixing);
        BijectorCase.Perturb(coupling);
        using var scope = NewDisposeScope();
        var batch = randn(32, 4, 3, 3, dtype: ScalarType.Float64).TimesInPlace(3).PlusInPlace(1);

        var count = ActNorm.InitializeAll(chain, batch);

        count.Should().Be(2);
        first.IsInitialized.Should().BeTrue();
        second.IsInitialized.Should().BeTrue();
        using var noGrad = no_grad();
        var (afterFirst, _) = first.Forward(batch);
        var (afterMixing, _) = mixing.Forward(afterFirst);
        var (afterCoupling, _) = coupling.Forward(afterMixing);
        var (afterSecond, _) = second.Forward(afterCoupling);
        foreach (var (output, what) in new[] { (afterFirst, "first ActNorm"), (afterSecond, "second ActNorm") })
        {
            var perChannel = output.transpose(0, 1).reshape(4, -1);
            perChannel.mean([1]).ShouldBeCloseTo(zeros(4, dtype: ScalarType.Float64), 0, 1e-10, $"{what}: per-channel mean");
            perChannel.std(1, unbiased: false).ShouldBeCloseTo(ones(4, dtype: ScalarType.Float64), 1e-5, 0, $"{what}: per-channel std");
        }
    }

    [Fact]
    public void InitializeAll_AlreadyInitialised_SkipsUnlessReinitializeIsSet()
    {
        random.manual_seed(5);
        var actNorm = new ActNorm(2);
        using var chain = new Chain(actNorm, Permutation.Reverse(2));
        using var scope = NewDisposeScope();
        ActNorm.InitializeAll(chain, randn(16, 2)).Should().Be(1);
        var before = actNorm.named_parameters().Single(p => p.name == "bias").parameter.clone();

        var skipped = ActNorm.InitializeAll(chain, randn(16, 2).PlusInPlace(7));

        skipped.Should().Be(0);
        actNorm.named_parameters().Single(p => p.name == "bias").parameter.ShouldBeCloseTo(before, 0, 0, "bias after a skipped pass");
        ActNorm.InitializeAll(chain, randn(16, 2).PlusInPlace(7), reinitialize: true).Should().Be(1);
        actNorm.named_parameters().Single(p => p.name == "bias").parameter.mean().ReadDouble().Should().BeApproximately(-7, 0.5);
    }

    [Fact]
    public void InitializeAll_ActNormReachedInInverseDirection_ThrowsNotSupportedAndLeavesNoPendingState()
    {
        using var inverted = new InverseOf(new ActNorm(2));
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => ActNorm.InitializeAll(inverted, randn(8, 2)))
            .Should().Throw<NotSupportedException>().WithMessage("*inverse direction*InitializeFrom*");

        // A later pass on this thread is not confused by the failed one.
        using var plain = new ActNorm(2);
        ActNorm.InitializeAll(plain, randn(8, 2)).Should().Be(1);
        plain.IsInitialized.Should().BeTrue();
    }

    [Fact]
    public void InitializeAll_ActNormNotReachedByForward_ThrowsInvalidOperationNamingIt()
    {
        // A composite whose Forward never calls one of its registered ActNorms (e.g. a custom bijector with a branch
        // the batch does not take).
        using var bijector = new IgnoresItsActNorm();
        using var scope = NewDisposeScope();

        FluentActions.Invoking(() => ActNorm.InitializeAll(bijector, randn(4, 2)))
            .Should().Throw<InvalidOperationException>().WithMessage("*1 of 1 ActNorm*not reached*ActNorm(C=2)*");
    }

    private sealed class IgnoresItsActNorm : Bijector
    {
        private readonly ActNorm unused = new(2);

        public IgnoresItsActNorm()
            : base(nameof(IgnoresItsActNorm))
        {
            RegisterComponents();
        }

        protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.alias(), ZeroLogDet(input));

        protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.alias(), ZeroLogDet(input));

        public override string ToString() => $"IgnoresItsActNorm({unused})";
    }
}
