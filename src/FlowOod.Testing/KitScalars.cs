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
}
