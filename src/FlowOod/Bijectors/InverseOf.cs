using System;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>The inverse of another bijector: Forward runs the wrapped bijector's Inverse and vice versa.</summary>
/// <remarks>Example: <c>new InverseOf(new Squeeze())</c> is depth-to-space (unsqueeze). Parameters are shared with the
/// wrapped bijector.</remarks>
public sealed partial class InverseOf : Bijector
{
    private readonly Bijector inner;

    /// <summary>Wraps <paramref name="bijector"/>.</summary>
    public InverseOf(Bijector bijector)
        : base(nameof(InverseOf))
    {
        ArgumentNullException.ThrowIfNull(bijector);
        inner = bijector;
        RegisterComponents();
    }

    /// <summary>The wrapped bijector.</summary>
    public Bijector Inner => inner;

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => inner.Inverse(input);

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => inner.Forward(input);

    /// <inheritdoc/>
    public override string ToString() => $"InverseOf({inner})";
}
