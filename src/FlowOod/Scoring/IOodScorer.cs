using TorchSharp;

namespace FlowOod.Scoring;

/// <summary>
/// Scores inputs for being out-of-distribution. Convention, FlowOod-wide: <b>higher score = more out-of-distribution</b>.
/// </summary>
/// <remarks>
/// Scorers validate their input (shape, dtype, NaN/Inf, value range) before computing anything, run in evaluation mode
/// without gradients, and process large batches in bounded chunks. They compute on the device of their flows (put a flow
/// on a GPU with <c>flow.to(device)</c>, or load it there with <see cref="Persistence.ModelLoadOptions.Device"/>); the
/// batch may live anywhere, each chunk is moved to the flow's device, and scores come back as managed doubles.
/// </remarks>
public interface IOodScorer
{
    /// <summary>A short name for tables and logs, e.g. "NLL (bits/dim)".</summary>
    string Name { get; }

    /// <summary>One score per example of <paramref name="batch"/> (<c>[N, ...]</c>); higher = more out-of-distribution.</summary>
    /// <exception cref="System.ArgumentException">The batch has the wrong shape, dtype or values.</exception>
    double[] Score(torch.Tensor batch);
}
