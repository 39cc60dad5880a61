using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The base of FlowOod's scorers built on normalizing flows: the flows, their ownership, the chunk size, the
/// dequantization noise and the one evaluation path they share. Not meant for derivation outside FlowOod; implement
/// <see cref="IOodScorer"/> for a scorer of your own.
/// </summary>
/// <remarks>
/// <para>Building a scorer puts each of its flows in evaluation mode, once. From then on a scorer is immutable: scoring
/// writes nothing on the flows (the noise travels as an argument of each call), so any number of threads may call
/// <see cref="Score"/> at once and get, bit for bit, the answers of a single-threaded run. Training a flow again while
/// a scorer uses it is refused at the next call (the flow would be in training mode).</para>
/// <para>Ownership (<see cref="IOodScorer"/>): with <c>ownsFlows: false</c> (the default) the flows stay the caller's and
/// <see cref="Dispose"/> leaves them alone; with <c>ownsFlows: true</c>, and for every scorer loaded from a model file,
/// disposing the scorer disposes its flows.</para>
/// </remarks>
public abstract class FlowScorer : IOodScorer
{
    private readonly NormalizingFlow[] flows;
    private readonly HostCouplingFlow?[] hosts; // the managed path of each flow, where it has one
    private int disposed;

    private protected FlowScorer(IReadOnlyList<NormalizingFlow> flows, int chunkSize, ScoringNoise? noise, bool ownsFlows)
    {
        ArgumentNullException.ThrowIfNull(flows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        this.flows = flows.ToArray();
        foreach (var flow in this.flows)
        {
            FlowEvaluation.PrepareForScoring(flow);
        }

        hosts = this.flows.Select(HostCouplingFlow.TryCreate).ToArray();
        ChunkSize = chunkSize;
        Noise = noise ?? ScoringNoise.BinCentres;
        OwnsFlows = ownsFlows;
    }

    /// <summary>Writes the evaluation settings every flow scorer stores after its own fields: "chunkSize", "noise".</summary>
    private protected void WriteEvaluationSettings(ComponentWriter writer)
    {
        writer.WriteInt("chunkSize", ChunkSize);
        writer.WriteNoise("noise", Noise);
    }

    /// <summary>Reads them back: the chunk size (bounded) and the noise (with its meaning in the file's format version).</summary>
    private protected static (int ChunkSize, ScoringNoise Noise) ReadEvaluationSettings(ComponentReader reader) =>
        (reader.ReadInt("chunkSize", 1, ComponentLimits.MaxCount), reader.ReadNoise("noise"));

    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>
    /// Examples evaluated at once, at most (bounds memory): a chunk is lowered, not below 16, when its largest tensor could
    /// pass 32 MiB by a bound read from the flow's weights (glibc returns blocks that large to the kernel on every free).
    /// </summary>
    public int ChunkSize { get; }

    /// <summary>The dequantization noise while scoring (default <see cref="ScoringNoise.BinCentres"/>).</summary>
    public ScoringNoise Noise { get; }

    /// <summary>Whether <see cref="Dispose"/> disposes the flows (true for loaded scorers and for <c>ownsFlows: true</c>).</summary>
    public bool OwnsFlows { get; }

    /// <inheritdoc/>
    public abstract double[] Score(Tensor batch);

    /// <summary>
    /// The gate's path into the scorer (a gate over a detector of inputs): <paramref name="batch"/> is a fixed-size chunk
    /// of the gate whose structure the gate's construction established (the scorer scored a float32 zero input of the
    /// gate's shape) and whose values the gate has read once for this request (finite; <paramref name="values"/> are its
    /// minimum and maximum). The flows check only their value range against those values, the chunk is evaluated as
    /// one piece (it is already of fixed size), and the scorer checks its scores for NaN, once.
    /// </summary>
    internal double[] ScoreChecked(Tensor batch, InputValues values, string parameterName)
    {
        ThrowIfDisposed();
        return ScoreCore(batch, values, parameterName);
    }

    /// <summary>
    /// <see cref="Score"/> (<paramref name="values"/> null: the batch is validated here against every flow, its values
    /// read once) or <see cref="ScoreChecked"/> (values given: only the flows' ranges are checked, against them).
    /// </summary>
    private protected abstract double[] ScoreCore(Tensor batch, InputValues? values, string parameterName);

    /// <summary>
    /// Validates <paramref name="batch"/> for every flow of <paramref name="flows"/> with its values read once; for a
    /// batch a caller has read already (<paramref name="values"/> given), checks only each flow's range against them.
    /// </summary>
    private protected static void ValidateInput(Tensor batch, InputValues? values, string parameterName, params ReadOnlySpan<NormalizingFlow> flows)
    {
        ArgumentNullException.ThrowIfNull(batch, parameterName);
        var (min, max) = values is { } known ? (known.Min, known.Max) : flows[0].ValidateInputValues(batch, parameterName);
        for (int k = 0; k < flows.Length; k++)
        {
            if (values is null && k > 0)
            {
                flows[k].ValidateInputStructure(batch, parameterName);
            }

            flows[k].CheckInputRange(min, max, parameterName);
        }
    }

    /// <summary>Disposes the flows when the scorer owns them; harmless when called again.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0 && OwnsFlows)
        {
            foreach (var flow in flows.Distinct(ReferenceEqualityComparer.Instance).Cast<NormalizingFlow>())
            {
                flow.Dispose();
            }
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// log p(x) in nats per example of <paramref name="batch"/>, validated against <paramref name="flow"/>; the exceptions
    /// name <paramref name="parameterName"/>, the public method's parameter that holds the batch.
    /// </summary>
    private protected double[] LogProb(NormalizingFlow flow, Tensor batch, string parameterName)
    {
        ThrowIfDisposed();
        return FlowEvaluation.LogProb(flow, batch, ChunkSize, Noise, parameterName);
    }

    /// <summary>
    /// log p(x) for a batch validated against <paramref name="flow"/> already: in chunks of <see cref="ChunkSize"/>, or
    /// as one piece for a chunk a caller has cut already (<paramref name="oneChunk"/>, e.g. the gate's fixed-size chunks).
    /// </summary>
    private protected double[] LogProbUnchecked(NormalizingFlow flow, Tensor batch, bool oneChunk = false)
    {
        ThrowIfDisposed();
        if (Host(flow)?.TryLogProb(batch) is { } onHost)
        {
            return onHost;
        }

        return FlowEvaluation.LogProbUnchecked(flow, batch, oneChunk ? checked((int)Math.Max(1, batch.size(0))) : ChunkSize, Noise);
    }

    /// <summary>
    /// The managed path of <paramref name="flow"/> (one of this scorer's flows) for small batches of feature vectors, or
    /// null when it has none (<see cref="HostCouplingFlow.TryCreate"/>).
    /// </summary>
    private protected HostCouplingFlow? Host(NormalizingFlow flow)
    {
        var index = Array.IndexOf(flows, flow);
        return index < 0 ? null : hosts[index];
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
}
