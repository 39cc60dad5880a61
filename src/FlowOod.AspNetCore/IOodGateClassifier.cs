using System;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Gating;

namespace FlowOod.AspNetCore;

/// <summary>
/// The gate as a service, for your own endpoints: registered as a singleton by
/// <see cref="FlowOodServiceCollectionExtensions.AddFlowOodGate(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{FlowOodGateOptions})"/>
/// and started with the host. Thread-safe; every call goes through the one scoring worker (see
/// <see cref="FlowOodServiceCollectionExtensions"/> remarks).
/// </summary>
public interface IOodGateClassifier
{
    /// <summary>The gate serving requests now.</summary>
    /// <exception cref="InvalidOperationException">The host has not started (no gate is loaded yet).</exception>
    GateInfo Gate { get; }

    /// <summary>Requests waiting for the scoring worker.</summary>
    int QueueLength { get; }

    /// <summary>
    /// Classifies one input: queues it for the scoring worker, which scores it in a micro-batch with other waiting
    /// requests (the answer is bit for bit the one of a batch of one).
    /// </summary>
    /// <param name="input">prod(<see cref="GateInfo.InputShape"/>) float32 values, row-major, finite, in the gate's input
    /// range (images: pixel / 255). Copied before the call returns.</param>
    /// <param name="cancellationToken">Cancels the request while it is queued (the task is then cancelled).</param>
    /// <returns>The decision.</returns>
    /// <exception cref="ArgumentException">Wrong length, or a NaN/infinite value.</exception>
    /// <exception cref="GateOverloadedException">The queue is full.</exception>
    /// <exception cref="InvalidOperationException">The host has not started, or is stopping.</exception>
    ValueTask<GateDecision> ClassifyAsync(ReadOnlyMemory<float> input, CancellationToken cancellationToken = default);
}
