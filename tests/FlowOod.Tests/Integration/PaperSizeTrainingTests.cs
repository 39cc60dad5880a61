using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Samples.FashionMnist;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Integration;

// The paper-size models in float32 with Kirichenko et al.'s optimiser settings on real Fashion-MNIST: no NaN or Inf
// in the loss or the parameters. A step takes ~7 s (RealNVP, 14.7M parameters) and ~18 s (Glow, 69.4M) on two cores,
// so this runs a few steps only; BuilderTrainingTests shows the loss going down on small versions of every builder.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class PaperSizeTrainingTests
{
    [Theory]
    [InlineData("RealNVP")]
    [InlineData("Glow")]
    public void PaperModel_PaperOptimiserSettings_StaysFinite(string model)
    {
        var data = FlowOodDatasets.FashionMnist(DatasetSplit.Train).Take(256);
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var images = data.ToTensor(0, data.Count);
        var (flow, options) = model == "Glow"
            ? (Glow.Create([1, 28, 28], GlowOptions.FashionMnistPaper),
               new TrainingOptions { Optimizer = OptimizerKind.RmsProp, LearningRate = 5e-5, WeightDecay = 5e-5 })
            : (RealNvp.Create([1, 28, 28], RealNvpOptions.FashionMnistPaper),
               new TrainingOptions { Optimizer = OptimizerKind.Adam, LearningRate = 5e-5, WeightDecay = 5e-5 });
        ActNorm.InitializeAll(flow, images.narrow(0, 0, 32));
        var losses = new List<double>();

        new FlowTrainer(flow, options with { Steps = 3, BatchSize = 32, ProgressInterval = 1, Seed = 3 })
            .Train(images, progress: new SyncProgress<TrainingProgress>(p => losses.Add(p.Loss)));

        losses.Should().HaveCount(3).And.OnlyContain(l => double.IsFinite(l) && l > 0 && l < 20);
        foreach (var parameter in flow.parameters())
        {
            parameter.isfinite().all().ReadBoolean().Should().BeTrue("no parameter may become NaN or infinite");
        }
    }
}
