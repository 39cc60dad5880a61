using System;
using FlowOod.Components;
using TorchSharp;

namespace FlowOod.Scoring;

/// <summary>
/// Scores inputs for being out-of-distribution. Convention, FlowOod-wide: <b>higher score = more out-of-distribution</b>.
/// </summary>
/// <remarks>
/// <para>Scorers validate their input (shape, dtype, device, NaN/Inf, value range) before computing anything, run
/// without gradients, and process large batches in bounded chunks. They compute on the device of their flows (put a
/// flow on a GPU with <c>flow.to(device)</c>, or load it there with <c>ModelLoadOptions.Device</c>);
/// the batch may live anywhere, each chunk is moved to the flow's device, and scores come back as managed doubles.</para>
/// <para><b>Threads.</b> A constructed scorer is immutable and safe for concurrent <see cref="Score"/> calls: FlowOod's
/// scorers put their flows in evaluation mode once, when they are built, and never write on them to answer a call, so
/// calls from many threads give, bit for bit, the results of the same calls made one after another. (Do not train or
/// modify a flow while a scorer uses it.)</para>
/// <para><b>Ownership</b>, one rule for every FlowOod type that holds native memory: what a type creates or loads, it
/// owns and frees in <see cref="IDisposable.Dispose"/>; what the caller passes in stays the caller's unless the caller
/// says otherwise with an <c>owns…: true</c> argument (like <see cref="System.IO.StreamReader"/>'s <c>leaveOpen</c>,
/// inverted). Scorers and detectors loaded from a model file own everything in it; a feature extractor passed at load
/// stays the caller's. Disposing twice is harmless; using a disposed scorer throws <see cref="ObjectDisposedException"/>;
/// do not dispose a scorer while calls on it are still running.</para>
/// <para><b>Saving.</b> A scorer is a component of kind "scorer": one that implements <see cref="IComponent{TSelf}"/>
/// with a <see cref="ComponentNameAttribute"/> describes itself (settings, flows through <c>WriteFlow</c>, fitted
/// vectors through <see cref="ComponentWriter.WriteDoubles"/>) and is saved by <c>ModelFile.Save</c>; FlowOod's own
/// scorers are in <see cref="ComponentCatalog.BuiltIn"/>, yours load once registered with
/// <c>ModelCatalog.With&lt;T&gt;()</c> in <c>ModelLoadOptions.Catalog</c>.</para>
/// </remarks>
[ComponentKind("scorer")]
public interface IOodScorer : IDisposable
{
    /// <summary>A short name for tables and logs, e.g. "NLL (bits/dim)".</summary>
    string Name { get; }

    /// <summary>One score per example of <paramref name="batch"/> (<c>[N, ...]</c>); higher = more out-of-distribution.</summary>
    /// <exception cref="ArgumentException">The batch has the wrong shape, dtype, device or values.</exception>
    /// <exception cref="ObjectDisposedException">The scorer has been disposed.</exception>
    double[] Score(torch.Tensor batch);
}
