using System;
using System.Collections.Generic;
using TorchSharp;

namespace FlowOod.Gating;

/// <summary>
/// What identifies a classifier's weights: one entry <c>"name:dtype[shape]"</c> per parameter and buffer (in
/// <c>named_parameters()</c> then <c>named_buffers()</c> order) and a SHA-256 over the names, dtypes, shapes and the raw
/// bytes of every parameter and buffer.
/// </summary>
/// <param name="Parameters">One <c>"name:dtype[shape]"</c> entry per parameter, then per buffer, e.g. <c>"conv1.weight:float32[8, 1, 3, 3]"</c>.</param>
/// <param name="Sha256">The SHA-256, lowercase hex (64 characters), over every entry of <paramref name="Parameters"/> and
/// the little-endian bytes of its values.</param>
public sealed record ClassifierFingerprint(IReadOnlyList<string> Parameters, string Sha256)
{
    /// <summary>
    /// Computes the fingerprint of <paramref name="classifier"/>; reads its tensors (copied to the host one at a time),
    /// writes nothing and changes no mode.
    /// </summary>
    /// <param name="classifier">The module.</param>
    /// <returns>Its fingerprint.</returns>
    public static ClassifierFingerprint Of(torch.nn.Module classifier)
    {
        throw new NotImplementedException();
    }

    /// <summary>Equal when both lists hold the same entries in the same order and the hashes are equal (ordinal).</summary>
    /// <param name="other">The other fingerprint.</param>
    /// <returns>Whether the fingerprints are equal.</returns>
    public bool Equals(ClassifierFingerprint? other) =>
        other is not null
        && string.Equals(Sha256, other.Sha256, StringComparison.Ordinal)
        && System.Linq.Enumerable.SequenceEqual(Parameters, other.Parameters, StringComparer.Ordinal);

    /// <summary>A hash of <see cref="Sha256"/>.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Sha256 ?? string.Empty);
}
