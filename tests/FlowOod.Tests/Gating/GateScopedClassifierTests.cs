using System;
using System.Linq;
using FlowOod.Gating;
using FlowOod.Tests.Data;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Gating;

// Classifiers written in the usual TorchSharp style, with dispose scopes inside forward: the layer gate's captured copy of
// the layer's output must outlive them, and nothing may leak (Tensor.TotalCount is process-wide, hence the collection).
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class GateScopedClassifierTests
{
    [Fact]
    public void Gating_AClassifierWithDisposeScopesInForward_FitsClassifiesSavesAndLoads_WithoutLeaks()
    {
        FlowOodRuntime.EnsureAvailable();
        using var classifier = new ScopedClassifier(seed: 11);
        using var training = GateTestModels.InDistribution(200, seed: 1);
        using var inputs = GateTestModels.Noise(21, seed: 3);
        using var folder = new TempFolder();
        var path = folder.Combine("gate.flowood");
        var options = GateTestModels.FitOptions("fc1") with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 5, BatchSize = 32, Seed = 3 } },
        };

        // One round first: TorchSharp and libtorch cache a few tensors of their own on first use.
        Round();
        var before = Concurrency.SettledTensorCount();
        var (fitted, loaded) = Round();
        Concurrency.SettledTensorCount().Should().Be(before, "fitting, classifying, saving and loading must free every tensor they create");
        loaded.Should().Equal(fitted);

        (GateDecision[] Fitted, GateDecision[] Loaded) Round()
        {
            using var gate = OodGate.Fit(classifier, training, options);
            var decisions = gate.Classify(inputs);
            decisions.Should().HaveCount(21);
            gate.ClassifyOne(inputs[0]).Should().Be(decisions[0]);
            gate.Save(path);
            using var reloaded = OodGate.Load(path, classifier);
            return (decisions, reloaded.Classify(inputs));
        }
    }

    [Fact]
    public void Gating_AClassifierThatThrowsAfterTheLayer_OrRunsItTwice_LeaksNoCopy()
    {
        FlowOodRuntime.EnsureAvailable();
        using var classifier = new ScopedClassifier(seed: 11);
        using var training = GateTestModels.InDistribution(200, seed: 1);
        using var gate = OodGate.Fit(classifier, training, GateTestModels.FitOptions() with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 2, BatchSize = 32, Seed = 3 } },
        });
        using var inputs = GateTestModels.InDistribution(5, seed: 4);
        gate.Classify(inputs);

        var before = Concurrency.SettledTensorCount();
        classifier.Mode = ScopedClassifier.Behaviour.ThrowAfterLayer;
        gate.Invoking(g => g.Classify(inputs)).Should().Throw<InvalidOperationException>().WithMessage("*after the layer*");
        classifier.Mode = ScopedClassifier.Behaviour.LayerTwice;
        gate.Invoking(g => g.Classify(inputs)).Should().Throw<InvalidOperationException>().WithMessage("*'fc1' ran 2 times*");
        classifier.Mode = ScopedClassifier.Behaviour.Normal;
        Concurrency.SettledTensorCount().Should().Be(before, "the captured copy is freed when the classifier throws or runs the layer twice");
    }

    [Fact]
    public void Gating_AForwardThatCallsTheLayerWithForwardInsteadOfCall_IsRefusedWithTheDocumentedMessage_WithoutLeaks()
    {
        FlowOodRuntime.EnsureAvailable();
        using var classifier = new ScopedClassifier(seed: 11) { Mode = ScopedClassifier.Behaviour.ForwardNotCall };
        using var training = GateTestModels.InDistribution(200, seed: 1);
        var fit = () => OodGate.Fit(classifier, training, GateTestModels.FitOptions());
        fit.Should().Throw<InvalidOperationException>().WithMessage("*'fc1' did not run*only when a module is invoked with call(...)*.call(x)*");

        var before = Concurrency.SettledTensorCount();
        fit.Should().Throw<InvalidOperationException>();
        Concurrency.SettledTensorCount().Should().Be(before);
        classifier.Mode = ScopedClassifier.Behaviour.Normal;
        using var gate = OodGate.Fit(classifier, training, GateTestModels.FitOptions() with
        {
            FeatureFlow = GateTestModels.FitOptions().FeatureFlow with { Training = new TrainingOptions { Steps = 2, BatchSize = 32, Seed = 3 } },
        });
        gate.FeatureLayer.Should().Be("fc1", "the failed fits removed their hooks, and a new gate hooks the layer again");
    }

    // flatten -> fc1 -> relu -> fc2, with a dispose scope around forward and a nested one around the feature layer.
    private sealed class ScopedClassifier : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> flatten = nn.Flatten();
        private readonly nn.Module<Tensor, Tensor> fc1 = nn.Linear(64, 16);
        private readonly nn.Module<Tensor, Tensor> relu = nn.ReLU();
        private readonly nn.Module<Tensor, Tensor> fc2 = nn.Linear(16, GateTestModels.Classes);

        public ScopedClassifier(long seed)
            : base("scoped")
        {
            RegisterComponents();
            GateTestModels.Reinitialize(this, seed);
            eval();
        }

        public enum Behaviour
        {
            Normal,
            ThrowAfterLayer,
            LayerTwice,
            ForwardNotCall,
        }

        public Behaviour Mode { get; set; }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            Tensor hidden;
            using (var inner = NewDisposeScope())
            {
                var flat = flatten.call(input);
                var features = Mode == Behaviour.ForwardNotCall ? fc1.forward(flat) : fc1.call(flat);
                if (Mode == Behaviour.LayerTwice)
                {
                    fc1.call(flat);
                }

                hidden = inner.MoveToOuter(relu.call(features));
            }

            if (Mode == Behaviour.ThrowAfterLayer)
            {
                throw new InvalidOperationException("The classifier failed after the layer.");
            }

            return scope.MoveToOuter(fc2.call(hidden));
        }
    }
}
