namespace FlowOod.Components;

/// <summary>
/// Bounds FlowOod's components apply when they read sizes, so a stored description cannot ask for an absurd network
/// (a model file's loader additionally builds the architecture on the meta device before allocating anything real).
/// </summary>
public static class ComponentLimits
{
    /// <summary>The largest width (channels, hidden units, latent size) a built-in component reads: 65536.</summary>
    public const int MaxWidth = 1 << 16;

    /// <summary>The largest depth (blocks, layers, couplings, steps) a built-in component reads: 4096.</summary>
    public const int MaxDepth = 4096;

    /// <summary>The largest count (chunk size, feature dimension, entries of a gate's input) a built-in component, scorer or gate reads: 2²⁴.</summary>
    public const int MaxCount = 1 << 24;
}
