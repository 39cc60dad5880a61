using TorchSharp;

namespace FlowOod.Testing;

/// <summary>
/// The kit's constant <see cref="Scalar"/>s, rooted for the life of the process: TorchSharp frees a temporary Scalar
/// (from a number, or the implicit alpha of <c>add(Tensor)</c>) in its finalizer, which can run during the native call
/// that reads it (docs/design.md, "Scalars").
/// </summary>
internal static class KitScalars
{
    /// <summary>The integer 1: <c>add</c>'s alpha and the identity's running variance.</summary>
    public static readonly Scalar One = 1L.ToScalar();

    /// <summary>A one-element tensor's value; TorchSharp's <c>ToDouble()</c> reads it through a temporary Scalar.</summary>
    public static double ReadDouble(this torch.Tensor tensor)
    {
        using var scalar = tensor.ToScalar();
        return scalar.ToDouble();
    }

    /// <summary>A one-element bool tensor's value (see <see cref="ReadDouble"/>).</summary>
    public static bool ReadBoolean(this torch.Tensor tensor)
    {
        using var scalar = tensor.ToScalar();
        return scalar.ToBoolean();
    }
}
