using System;
using FlowOod.Scoring;
using static TorchSharp.torch;

namespace FlowOod.Tests.Detection;

// A deterministic synthetic scorer: the score of example i is the value batch[i] of a batch [N] (or [N, 1]).
// Counts its calls so tests can check that work is skipped.
internal sealed class ValueScorer : IOodScorer
{
    public int Calls { get; private set; }

    public int DisposeCalls { get; private set; }

    public string Name => "Value";

    public double[] Score(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Calls++;
        using var scope = NewDisposeScope();
        return batch.reshape(batch.shape[0]).to_type(ScalarType.Float64).data<double>().ToArray();
    }

    public void Dispose() => DisposeCalls++;
}

// A scorer returning a fixed array whatever the batch, to simulate broken scorers.
internal sealed class FixedScorer(double[] scores) : IOodScorer
{
    public string Name => "Fixed";

    public double[] Score(Tensor batch) => (double[])scores.Clone();

    public void Dispose()
    {
    }
}
