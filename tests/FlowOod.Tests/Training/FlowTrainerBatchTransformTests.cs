using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Training;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FlowTrainerBatchTransformTests
{
    private static readonly long[] Shape = [1, 8, 8];

    [Fact]
    public void Train_WithBatchTransform_CallsItOncePerStepOnTheMiniBatch()
    {
        using var scope = NewDisposeScope();
        var data = Images(20, seed: 1);
        var shapes = new List<long[]>();

        Train(data, seed: 2, steps: 7, batch =>
        {
            shapes.Add(batch.shape);
            batch.requires_grad.Should().BeFalse();
            return batch.alias();
        });

        shapes.Should().HaveCount(7);
        shapes.Should().AllSatisfy(s => s.Should().Equal(8, 1, 8, 8));
    }

    [Fact]
    public void Train_DeterministicBatchTransform_EqualsTrainingOnTheTransformedData()
    {
        using var scope = NewDisposeScope();
        var data = Images(40, seed: 3);

        var transformed = Parameters(Train(data, seed: 4, steps: 6, batch => batch.neg().PlusInPlace(1)));
        var direct = Parameters(Train(data.neg().PlusInPlace(1), seed: 4, steps: 6, batchTransform: null));
        var plain = Parameters(Train(data, seed: 4, steps: 6, batchTransform: null));

        transformed.Should().HaveCount(direct.Count);
        for (int i = 0; i < direct.Count; i++)
        {
            transformed[i].Should().Equal(direct[i], $"parameter {i}: the flow trains on exactly the transformed batches");
        }

        transformed.Zip(plain).Should().Contain(p => !p.First.SequenceEqual(p.Second), "the transform changed what was learned");
    }

    [Fact]
    public void Train_BatchTransformChangesTheShape_ThrowsArgumentException()
    {
        using var scope = NewDisposeScope();
        var data = Images(16, seed: 5);

        var act = () => Train(data, seed: 6, steps: 2, batch => batch.narrow(0, 0, 1));

        act.Should().Throw<ArgumentException>().WithMessage("*batch transform*[8, 1, 8, 8]*[1, 1, 8, 8]*")
            .And.ParamName.Should().Be("batchTransform");
    }

    [Fact]
    public void Train_BatchTransformLeavesTheInputRange_ThrowsArgumentExceptionNamingTheRange()
    {
        using var scope = NewDisposeScope();
        var data = Images(16, seed: 7);

        var act = () => Train(data, seed: 8, steps: 2, batch => batch.Plus(2));

        act.Should().Throw<ArgumentException>().WithMessage("*batch transform*[0, 1]*")
            .And.ParamName.Should().Be("batchTransform");
    }

    [Fact]
    public void Train_BatchTransformAllocating_LeavesNoMoreLiveTensorsThanWithout()
    {
        using var scope = NewDisposeScope();
        var data = Images(32, seed: 9);
        random.manual_seed(10);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 1 });
        var trainer = new FlowTrainer(flow, new TrainingOptions { Steps = 5, BatchSize = 8, Seed = 10 });
        trainer.Train(data);   // warm-up: lazily created state exists before counting

        DisposeScopeManager.Statistics.Reset();
        var baseline = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        trainer.Train(data);
        var withoutTransform = DisposeScopeManager.Statistics.ThreadTotalLiveCount - baseline;
        trainer.Train(data, batchTransform: batch => batch.Times(0.5).PlusInPlace(batch.Times(0.25)).ClampInPlace(0, 1));
        var withTransform = DisposeScopeManager.Statistics.ThreadTotalLiveCount - baseline - withoutTransform;

        withTransform.Should().Be(withoutTransform, $"the transform's tensors are freed with each step ({DisposeScopeManager.Statistics})");
    }

    private static NormalizingFlow Train(Tensor data, long seed, int steps, Func<Tensor, Tensor>? batchTransform)
    {
        random.manual_seed(seed);
        var flow = RealNvp.Create(Shape, new RealNvpOptions { Width = 4, Blocks = 1 });
        new FlowTrainer(flow, new TrainingOptions { Steps = steps, BatchSize = 8, Seed = seed })
            .Train(data, batchTransform: batchTransform, cancellationToken: TestContext.Current.CancellationToken);
        return flow;
    }

    private static List<float[]> Parameters(NormalizingFlow flow) =>
        flow.parameters().Select(p => p.data<float>().ToArray()).ToList();

    private static Tensor Images(long n, long seed)
    {
        random.manual_seed(seed);
        return randint(0, 256, [n, .. Shape]).to(ScalarType.Float32).DivideInPlace(255.0);
    }
}
