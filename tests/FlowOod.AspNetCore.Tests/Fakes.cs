using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FlowOod.Gating;

namespace FlowOod.AspNetCore.Tests;

// A managed stand-in for a loaded gate: label = round(input[0] · 255), refused when input[1] > 0.5; can block or fail.
internal sealed class FakeModel(double threshold = 1.0, long[]? shape = null) : IGateModel
{
    private int disposed;

    public IReadOnlyList<long> InputShape { get; } = shape ?? [1, 2, 2];

    public IReadOnlyList<string> ClassNames { get; } = ["a", "b"];

    public double TargetFalsePositiveRate => 0.05;

    public double Threshold { get; } = threshold;

    public ConcurrentQueue<int> BatchSizes { get; } = new();

    public ConcurrentQueue<int> Seen { get; } = new();

    public ManualResetEventSlim Release { get; } = new(true);

    public ManualResetEventSlim Entered { get; } = new(false);

    public Func<int, bool>? FailOn { get; set; }

    public int DisposeCount => Volatile.Read(ref disposed);

    public int UsedAfterDispose;

    public GateDecision[] Classify(float[] inputs, int count)
    {
        if (DisposeCount > 0)
        {
            Interlocked.Increment(ref UsedAfterDispose);
        }

        Entered.Set();
        Release.Wait(TimeSpan.FromSeconds(30));
        BatchSizes.Enqueue(count);
        int d = (int)InputShape.Aggregate(1L, (a, b) => a * b);
        var result = new GateDecision[count];
        for (int i = 0; i < count; i++)
        {
            int id = (int)MathF.Round(inputs[i * d] * 255);
            if (FailOn?.Invoke(id) == true)
            {
                throw new InvalidOperationException($"fake failure on {id}");
            }

            Seen.Enqueue(id);
            bool ood = inputs[(i * d) + 1] > 0.5f;
            result[i] = new GateDecision(id, id.ToString(System.Globalization.CultureInfo.InvariantCulture), [0.5f, 0.5f], ood, ood ? 2.0 : 0.0, ood ? 0.01 : 0.5, Threshold);
        }

        return result;
    }

    public void Dispose() => Interlocked.Increment(ref disposed);
}

// Loads "fake gate files": the text "threshold=T" (optionally "shape=a,b,c"); anything else throws like a bad file.
internal sealed class FakeLoader : IGateModelLoader
{
    public List<FakeModel> Loaded { get; } = [];

    public IGateModel Load(string path)
    {
        var text = File.ReadAllText(path).Trim();
        var parts = text.Split(';').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        if (!parts.TryGetValue("threshold", out var t))
        {
            throw new InvalidDataException($"not a fake gate: '{text}'");
        }

        long[]? shape = parts.TryGetValue("shape", out var s) ? s.Split(',').Select(long.Parse).ToArray() : null;
        var model = new FakeModel(double.Parse(t, System.Globalization.CultureInfo.InvariantCulture), shape);
        lock (Loaded)
        {
            Loaded.Add(model);
        }

        return model;
    }
}

internal static class Inputs
{
    // A [1, 2, 2] input whose first value encodes id (0..255) and second the fake verdict.
    public static float[] Of(int id, bool ood = false) => [id / 255f, ood ? 1f : 0f, 0f, 0f];
}
