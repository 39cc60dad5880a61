using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

/// <summary>
/// What identifies a classifier's weights: one entry <c>"name:dtype[shape]"</c> per parameter and buffer (in
/// <c>named_parameters()</c> then <c>named_buffers()</c> order) and a SHA-256 over the names, dtypes, shapes and the raw
/// bytes of every parameter and buffer.
/// </summary>
/// <remarks>
/// <para>The hash is SHA-256 over, for each entry in order, the entry's UTF-8 text, a newline byte, and the tensor's
/// elements in row-major order as the host stores them (little-endian on every platform .NET and libtorch support).
/// Two classifiers with equal fingerprints have the same architecture (as far as parameters and buffers show it) and
/// bit-identical weights; retraining, fine-tuning or loading another checkpoint changes the hash.</para>
/// <para>Equality compares the entries and the hash, ordinal.</para>
/// </remarks>
/// <param name="Parameters">One <c>"name:dtype[shape]"</c> entry per parameter, then per buffer, e.g. <c>"conv1.weight:float32[8, 1, 3, 3]"</c>.</param>
/// <param name="Sha256">The SHA-256, lowercase hex (64 characters), over every entry of <paramref name="Parameters"/> and
/// the bytes of its values.</param>
public sealed record ClassifierFingerprint(IReadOnlyList<string> Parameters, string Sha256)
{
    /// <summary>
    /// The SHA-256 (lowercase hex) of each tensor's bytes alone, in <see cref="Parameters"/> order, when the fingerprint
    /// was computed by <see cref="Of"/> or read from a gate file; used to name the first tensor whose values differ.
    /// </summary>
    internal IReadOnlyList<string>? TensorHashes { get; init; }

    /// <summary>
    /// Computes the fingerprint of <paramref name="classifier"/>; reads its tensors (copied to the host one at a time),
    /// writes nothing and changes no mode.
    /// </summary>
    /// <param name="classifier">The module.</param>
    /// <returns>Its fingerprint.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="classifier"/> is null.</exception>
    /// <exception cref="ArgumentException">A parameter or buffer is on the meta device (it has no values to hash).</exception>
    public static ClassifierFingerprint Of(nn.Module classifier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var entries = new List<string>();
        var tensorHashes = new List<string>();
        using var total = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tensors = classifier.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(classifier.named_buffers().Select(b => (b.name, b.buffer)));
        foreach (var (name, tensor) in tensors)
        {
            InputChecks.RejectMetaDevice(tensor, $"The classifier's tensor '{name}'", nameof(classifier));
            var entry = string.Create(CultureInfo.InvariantCulture, $"{name}:{DtypeName(tensor.dtype)}{Shapes.Format(tensor.Sizes())}");
            entries.Add(entry);
            total.AppendData(Encoding.UTF8.GetBytes(entry + "\n"));
            using var host = tensor.detach().cpu().contiguous();
            var bytes = host.bytes;
            total.AppendData(bytes);
            tensorHashes.Add(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }

        return new ClassifierFingerprint(entries.AsReadOnly(), Convert.ToHexStringLower(total.GetHashAndReset()))
        {
            TensorHashes = tensorHashes.AsReadOnly(),
        };
    }

    /// <summary>Equal when both lists hold the same entries in the same order and the hashes are equal (ordinal).</summary>
    /// <param name="other">The other fingerprint.</param>
    /// <returns>Whether the fingerprints are equal.</returns>
    public bool Equals(ClassifierFingerprint? other) =>
        other is not null
        && string.Equals(Sha256, other.Sha256, StringComparison.Ordinal)
        && Parameters.SequenceEqual(other.Parameters, StringComparer.Ordinal);

    /// <summary>A hash of <see cref="Sha256"/>.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Sha256 ?? string.Empty);

    /// <summary>
    /// Null when <paramref name="actual"/> equals this fingerprint; otherwise what differs, naming the first differing
    /// parameter or buffer (by entry, or by values when the per-tensor hashes are known on both sides).
    /// </summary>
    internal string? DescribeDifference(ClassifierFingerprint actual)
    {
        if (Equals(actual))
        {
            return null;
        }

        var count = Math.Min(Parameters.Count, actual.Parameters.Count);
        for (int i = 0; i < count; i++)
        {
            if (!string.Equals(Parameters[i], actual.Parameters[i], StringComparison.Ordinal))
            {
                return $"parameter/buffer #{i} differs: the gate was fitted with '{Parameters[i]}', the classifier given has '{actual.Parameters[i]}'";
            }
        }

        if (Parameters.Count != actual.Parameters.Count)
        {
            return Parameters.Count > actual.Parameters.Count
                ? $"the classifier given has {actual.Parameters.Count} parameters and buffers, the gate's had {Parameters.Count}; the first missing one is '{Parameters[count]}'"
                : $"the classifier given has {actual.Parameters.Count} parameters and buffers, the gate's had {Parameters.Count}; the first extra one is '{actual.Parameters[count]}'";
        }

        if (TensorHashes is { } mine && actual.TensorHashes is { } theirs && mine.Count == theirs.Count)
        {
            for (int i = 0; i < mine.Count; i++)
            {
                if (!string.Equals(mine[i], theirs[i], StringComparison.Ordinal))
                {
                    return $"the names, dtypes and shapes of all {Parameters.Count} parameters and buffers match, but the weights differ, first in '{Parameters[i]}' "
                        + "(a retrained or fine-tuned classifier, or another checkpoint)";
                }
            }
        }

        return $"the names, dtypes and shapes of all {Parameters.Count} parameters and buffers match, but the weights differ (SHA-256 {actual.Sha256} instead of {Sha256}; "
            + "a retrained or fine-tuned classifier, or another checkpoint)";
    }

    private static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Int64 => "int64",
        ScalarType.Int32 => "int32",
        ScalarType.Int16 => "int16",
        ScalarType.Int8 => "int8",
        ScalarType.Byte => "uint8",
        ScalarType.Bool => "bool",
        var other => other.ToString().ToLowerInvariant(),
    };
}
