using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Models;
using FlowOod.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Training;

// The trainer owns its generators (shuffling, dequantization noise, evaluation noise) and never touches torch's global
// generator, so two seeded trainers running at once on two threads give, bit for bit, what they give one after the other.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class ParallelTrainingTests
{
    private static readonly long[] Shape = [1, 8, 8];
    private static readonly RealNvpOptions Architecture = new() { Width = 8, Blocks = 1 };
    private static readonly long[] Seeds = [1, 2];

    [Fact]
    public void Train_TwoSeededTrainersOnTwoThreads_GiveTheSerialParametersBitForBit_AndLeaveTheGlobalGeneratorAlone()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        using var template = RealNvp.Create(Shape, Architecture);
        var initial = template.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var (data, evaluation) = Data();

        var serialFlows = Seeds.Select(_ => Copy(initial)).ToArray();
        var parallelFlows = Seeds.Select(_ => Copy(initial)).ToArray();
        try
        {
            Check(template, data, evaluation, serialFlows, parallelFlows);
        }
        finally
        {
            foreach (var flow in serialFlows.Concat(parallelFlows))
            {
                flow.Dispose();
            }
        }
    }

    private static void Check(NormalizingFlow template, Tensor data, Tensor evaluation, NormalizingFlow[] serialFlows, NormalizingFlow[] parallelFlows)
    {
        var globalBefore = GlobalGeneratorState();
        var serialResults = Seeds.Select((seed, i) => Train(serialFlows[i], data, evaluation, seed)).ToArray();
        GlobalGeneratorState().Should().Equal(globalBefore, "serial training must not draw from torch's global generator");

        var parallelResults = new TrainingResult?[Seeds.Length];
        var failures = new Exception?[Seeds.Length];
        using var start = new Barrier(Seeds.Length);
        globalBefore = GlobalGeneratorState();
        var workers = Seeds.Select((seed, i) => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                using var threadScope = NewDisposeScope();
                parallelResults[i] = Train(parallelFlows[i], data, evaluation, seed);
            }
            catch (Exception e)
            {
                failures[i] = e;
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        failures.Should().OnlyContain(f => f == null);
        GlobalGeneratorState().Should().Equal(globalBefore, "parallel training must not draw from torch's global generator");

        var initialState = State(template);
        var serial = serialFlows.Select(State).ToArray();
        var parallel = parallelFlows.Select(State).ToArray();
        for (int i = 0; i < Seeds.Length; i++)
        {
            parallel[i].Keys.Should().Equal(serial[i].Keys);
            foreach (var (name, values) in serial[i])
            {
                parallel[i][name].Should().Equal(values, $"{name} of the flow trained with seed {Seeds[i]} on a thread equals the serial one");
            }

            parallelResults[i]!.FinalLoss.Should().Be(serialResults[i].FinalLoss);
            parallelResults[i]!.EvaluationLoss.Should().Be(serialResults[i].EvaluationLoss);
            serial[i].Any(p => !p.Value.SequenceEqual(initialState[p.Key])).Should().BeTrue($"training with seed {Seeds[i]} changed the flow");
        }

        serial[0].Any(p => !p.Value.SequenceEqual(serial[1][p.Key])).Should().BeTrue(
            "seeds 1 and 2 shuffle and dequantize differently, so the pairs compared above are distinct");
    }

    private static TrainingResult Train(NormalizingFlow flow, Tensor data, Tensor evaluation, long seed) =>
        new FlowTrainer(flow, new TrainingOptions { Steps = 12, BatchSize = 16, Seed = seed, EvaluationInterval = 6 })
            .Train(data, evaluationData: evaluation);

    // A fresh flow of the same architecture with the template's parameters and buffers.
    private static NormalizingFlow Copy(Dictionary<string, Tensor> initial)
    {
        var flow = RealNvp.Create(Shape, Architecture);
        var (missing, unexpected) = flow.load_state_dict(initial, strict: true);
        missing.Should().BeEmpty();
        unexpected.Should().BeEmpty();
        return flow;
    }

    // 8-bit images from a local generator: 48 to train on, 16 to evaluate.
    private static (Tensor Data, Tensor Evaluation) Data()
    {
        using var generator = new Generator(3);
        var images = randint(0, 256, [64, .. Shape], generator: generator).to(ScalarType.Float32).DivideInPlace(255.0);
        return (images.narrow(0, 0, 48), images.narrow(0, 48, 16));
    }

    private static byte[] GlobalGeneratorState()
    {
        using var state = random.get_rng_state();
        return state.data<byte>().ToArray();
    }

    private static Dictionary<string, double[]> State(NormalizingFlow flow) =>
        flow.state_dict().ToDictionary(
            p => p.Key,
            p => p.Value.to_type(ScalarType.Float64).cpu().flatten().data<double>().ToArray());
}
