using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Models;
using FlowOod.Precision;
using FlowOod.Samples.FashionMnist;
using FlowOod.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// <c>./build.sh bench-long [steps] [fp32|bf16] [interval] [batch]</c>: one long training run of the compact RealNVP
/// on Fashion-MNIST (default 3,000 steps of 64, fp32, a line every 100 steps), with the throughput of every interval, so a slowdown over a long run shows; beside it the
/// live-tensor count, the resident set and the subnormal numbers among the parameters and their gradients (subnormal
/// arithmetic is many times slower on x86, the usual cause of a run that slows down while nothing leaks).
/// </summary>
internal static class LongRun
{
    private const float SmallestNormal = 1.17549435e-38f;

    public static int Run(int steps, ComputePrecision precision, int interval, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(interval);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        Console.WriteLine($"cpu: {ProcessorInfo.Current.Describe()} | cores {Environment.ProcessorCount} | threads {get_num_threads()} | {Program.MallocNote}");
        using var data = TrainingImages(out var source);
        Console.WriteLine($"compact RealNVP, {steps} steps of {batch}, {precision}, on {source}; a line every {interval} steps");
        Console.WriteLine("step  images/s (interval)  loss bits/dim  live tensors  RSS MiB  subnormal parameters  subnormal gradients");

        random.manual_seed(1);
        using var flow = RealNvp.Create([1, 28, 28], RealNvpOptions.Compact);
        var rates = new List<double>();
        var previous = TimeSpan.Zero;
        var previousStep = 0;
        var progress = new Reporter(report =>
        {
            var seconds = (report.Elapsed - previous).TotalSeconds;
            var rate = (report.Step - previousStep) * batch / seconds;
            previous = report.Elapsed;
            previousStep = report.Step;
            rates.Add(rate);
            var (parameters, gradients) = Subnormals(flow);
            using var self = Process.GetCurrentProcess();
            Console.WriteLine($"{report.Step,5}  {rate,20:F1}  {report.Loss,13:F3}  {Tensor.TotalCount,12}  {self.WorkingSet64 / 1048576.0,7:F0}  {parameters,20:N0}  {gradients,19:N0}");
        });

        var options = new TrainingOptions { Steps = steps, BatchSize = batch, ProgressInterval = interval, Seed = 1, Precision = precision };
        new FlowTrainer(flow, options).Train(data, progress: progress);

        if (rates.Count >= 2)
        {
            // The first interval pays for warm-up; compare the second with the last.
            var reference = rates[Math.Min(1, rates.Count - 1)];
            Console.WriteLine(
                $"compact RealNVP {precision} long run: interval 2 {reference:F1} images/s, last {rates[^1]:F1} ({rates[^1] / reference:P0}), "
                + $"slowest after warm-up {rates.Skip(1).Min():F1} ({rates.Skip(1).Min() / reference:P0}), fastest {rates.Skip(1).Max():F1}");
            var afterWarmUp = rates.Skip(1).ToArray();
            if (afterWarmUp.Length >= 3)
            {
                // Single intervals move by ±10% on a shared VM; a slowdown shows as a lower mean at the end than at the start.
                var third = afterWarmUp.Length / 3;
                var first = afterWarmUp.Take(third).Average();
                var last = afterWarmUp.TakeLast(third).Average();
                Console.WriteLine($"compact RealNVP {precision} long run: mean of the first third after warm-up {first:F1} images/s, of the last third {last:F1} ({last / first:P0})");
            }
        }

        return 0;
    }

    // Entries of the parameters and of their gradients that are subnormal (non-zero, below the smallest normal float).
    private static (long Parameters, long Gradients) Subnormals(NormalizingFlow flow)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long parameters = 0;
        long gradients = 0;
        foreach (var parameter in flow.parameters().Where(p => p.dtype == ScalarType.Float32))
        {
            parameters += Count(parameter);
            if (parameter.grad is { } grad)
            {
                gradients += Count(grad);
            }
        }

        return (parameters, gradients);

        static long Count(Tensor t) => t.abs().lt(SmallestNormal).logical_and(t.ne(0)).sum().ToInt64();
    }

    private static Tensor TrainingImages(out string source)
    {
        try
        {
            var train = FlowOodDatasets.FashionMnist(DatasetSplit.Train);
            source = $"Fashion-MNIST training images ({train.Count:N0})";
            return train.ToTensor(0, train.Count);
        }
        catch (FileNotFoundException)
        {
            source = "random 8-bit images (Fashion-MNIST not found; ./build.sh data prepares it)";
            using var generator = new Generator(1);
            return rand([10_000, 1, 28, 28], generator: generator).mul_(255).floor_().div_(255);
        }
    }

    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
