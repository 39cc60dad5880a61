using System;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Caps a scoring chunk so that no intermediate tensor of the flow is larger than <see cref="MaxTensorBytes"/>.
/// </summary>
/// <remarks>
/// <para>
/// Why: glibc's <c>malloc</c> serves blocks above 32 MiB (its largest mmap threshold on 64-bit) with fresh pages from
/// the kernel and returns them on free, so each such tensor costs a page fault per 4 KiB every time it is allocated;
/// smaller blocks are reused from the heap. Measured on the 2-core AMD EPYC VM (1,024 images, float32 inference copies,
/// one torch thread in the test host): the compact RealNVP scored 130–170 images/s in chunks of 256 against 235 in
/// chunks of 64–128, the auto-encoder st-network flow 72 against 146–148; with glibc told never to map
/// (<c>glibc.malloc.mmap_max=0</c>) chunks of 256 scored as fast as the smaller ones and page faults fell from 2.5 M to
/// 0.3 M. In bf16 the same tensors are half the size and chunk size did not matter.
/// </para>
/// <para>
/// The bound per example is read from the flow's parameters, without running it: a 4-D weight
/// <c>[a, b, k_h, k_w]</c> (convolution or transposed convolution) can produce or take at most max(a, b) channels over
/// the example's full spatial area (the product of its event dimensions after the first), a 2-D weight at most
/// max(a, b) features, each in the parameter's element size; the example itself counts in float32. The bound is loose
/// for layers that run at a reduced resolution, which only makes chunks smaller than needed. Scores do not depend on
/// the chunk size beyond floating-point rounding.
/// </para>
/// </remarks>
internal static class ChunkBudget
{
    /// <summary>The largest intermediate tensor a capped chunk may produce: glibc's largest mmap threshold (64-bit).</summary>
    public const long MaxTensorBytes = 32L << 20;

    /// <summary>Chunks at or below this size are never capped (a smaller chunk costs more per-call overhead than it saves).</summary>
    public const int MinimumChunk = 16;

    /// <summary>
    /// The chunk to use for <paramref name="batch"/> (<c>[N, eventShape...]</c>) through <paramref name="flow"/>: the requested
    /// <paramref name="chunkSize"/>, lowered (not below <see cref="MinimumChunk"/>) until the bound of its largest tensor is within
    /// <see cref="MaxTensorBytes"/>. Batches no larger than <see cref="MinimumChunk"/> return at once (the gate's path).
    /// </summary>
    public static int Cap(NormalizingFlow flow, Tensor batch, int chunkSize)
    {
        if (chunkSize <= MinimumChunk || batch.size(0) <= MinimumChunk)
        {
            return chunkSize;
        }

        var perExample = BytesPerExample(flow, batch.Sizes());
        return (int)Math.Clamp(MaxTensorBytes / perExample, MinimumChunk, chunkSize);
    }

    /// <summary>An upper bound, in bytes, of the largest intermediate tensor per example (see the remarks).</summary>
    public static long BytesPerExample(NormalizingFlow flow, long[] batchShape)
    {
        long eventElements = 1, area = 1;
        for (int d = 1; d < batchShape.Length; d++)
        {
            eventElements *= batchShape[d];
            area *= d >= 2 ? batchShape[d] : 1;
        }

        var largest = eventElements * sizeof(float);
        foreach (var parameter in flow.parameters())
        {
            var shape = parameter.Sizes();
            var width = shape.Length is 2 or 4 ? Math.Max(shape[0], shape[1]) : 0;
            var perExample = shape.Length == 4 ? width * area : width;
            largest = Math.Max(largest, perExample * parameter.ElementSize);
        }

        return Math.Max(1, largest);
    }
}
