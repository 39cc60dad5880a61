using System;
using System.Collections.Generic;

namespace FlowOod.Onnx;

/// <summary>
/// A tensor of the graph being exported: its name and the shape of one example (the batch axis N is implicit and comes
/// first), e.g. <c>[C, H, W]</c> for a value <c>[N, C, H, W]</c>.
/// </summary>
public sealed class OnnxValue
{
    private readonly long[] eventShape;

    /// <summary>Creates the description of a graph value.</summary>
    /// <param name="name">The value's name in the graph.</param>
    /// <param name="eventShape">The shape of one example (without N).</param>
    /// <exception cref="ArgumentException">The name is empty.</exception>
    public OnnxValue(string name, IReadOnlyList<long> eventShape)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(eventShape);
        Name = name;
        this.eventShape = [.. eventShape];
    }

    /// <summary>The value's name in the graph.</summary>
    public string Name { get; }

    /// <summary>The shape of one example (the batch axis N excluded).</summary>
    public IReadOnlyList<long> EventShape => eventShape;

    /// <summary>The same shape as an array (a copy).</summary>
    internal long[] Shape => (long[])eventShape.Clone();

    /// <inheritdoc/>
    public override string ToString() => $"{Name} [N, {string.Join(", ", eventShape)}]";
}

/// <summary>What a bijector's exported forward pass (data → latent) produced: the output and the log-determinant.</summary>
public sealed class OnnxBijectorOutput
{
    /// <summary>Creates the result.</summary>
    /// <param name="output">The output value, <c>[N, eventShape...]</c>.</param>
    /// <param name="logDet">The name of the per-example log|det| <c>[N]</c> (float32), or null when it is zero.</param>
    public OnnxBijectorOutput(OnnxValue output, string? logDet)
    {
        ArgumentNullException.ThrowIfNull(output);
        Output = output;
        LogDet = logDet;
    }

    /// <summary>The output value.</summary>
    public OnnxValue Output { get; }

    /// <summary>The per-example log|det ∂f/∂x| <c>[N]</c>, or null for a volume-preserving step.</summary>
    public string? LogDet { get; }
}
