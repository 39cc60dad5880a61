using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Where a <see cref="UniformDequantization"/> layer takes its noise u from during one call on the current thread: the
/// per-call argument of <see cref="NormalizingFlow.LogProb(Tensor, ScoringNoise)"/> and of the trainer, carried the way
/// torch carries its grad mode (thread-local, scoped), never written on a module.
/// </summary>
/// <remarks>
/// An <see cref="Override"/> replaces the layers' own setting (a scorer's bin centres or seeded noise). A
/// <see cref="Use(Generator)"/> scope keeps each layer's own setting but draws its random u from the given generator
/// instead of TorchSharp's global one (the trainer's own generator). Scopes nest; disposing one restores the previous
/// state of this thread. Other threads are never affected.
/// </remarks>
internal static class NoiseContext
{
    [ThreadStatic]
    private static NoiseSource? currentOverride;

    [ThreadStatic]
    private static Generator? currentGenerator;

    /// <summary>The source that replaces every layer's own noise setting on this thread, or null.</summary>
    public static NoiseSource? CurrentOverride => currentOverride;

    /// <summary>The generator random noise is drawn from on this thread, or null for TorchSharp's global generator.</summary>
    public static Generator? CurrentGenerator => currentGenerator;

    /// <summary>Every layer uses <paramref name="source"/> until the scope is disposed.</summary>
    public static Scope Override(NoiseSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var scope = new Scope(currentOverride, currentGenerator);
        currentOverride = source;
        return scope;
    }

    /// <summary>Random noise comes from <paramref name="generator"/> until the scope is disposed.</summary>
    public static Scope Use(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var scope = new Scope(currentOverride, currentGenerator);
        currentOverride = null;
        currentGenerator = generator;
        return scope;
    }

    /// <summary>Restores the state before the scope began.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly NoiseSource? previousOverride;
        private readonly Generator? previousGenerator;

        internal Scope(NoiseSource? previousOverride, Generator? previousGenerator)
        {
            this.previousOverride = previousOverride;
            this.previousGenerator = previousGenerator;
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            currentOverride = previousOverride;
            currentGenerator = previousGenerator;
        }
    }
}
