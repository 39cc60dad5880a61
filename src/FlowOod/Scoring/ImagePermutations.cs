using System;
using System.Collections.Generic;
using System.Linq;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The pixel permutations of <see cref="StirringTransforms"/> on batches <c>[N, ..., H, W]</c>: each returns a new,
/// contiguous tensor of the same shape whose every value is a value of the input (no arithmetic, so a valid input stays
/// valid for the flow). Contiguous matters: flip keeps its input's strides, and a flow evaluated on a strided copy of a
/// batch can round differently in the last bit, so an image that T fixes would not score exactly 0.
/// </summary>
internal static class ImagePermutations
{
    // The 9 derangements σ of the quadrants 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right, in
    // lexicographic order: output quadrant q holds input quadrant σ[q].
    private static readonly int[][] QuadrantDerangementOrders = Derangements(4);

    /// <summary>How many transforms of <paramref name="transforms"/> apply to events <paramref name="eventShape"/>.</summary>
    public static int Count(StirringTransforms transforms, IReadOnlyList<long> eventShape) => transforms switch
    {
        StirringTransforms.Symmetries => eventShape[^2] == eventShape[^1] ? 7 : 3,
        _ => QuadrantDerangementOrders.Length,
    };

    /// <summary>Why <paramref name="transforms"/> cannot act on events <paramref name="eventShape"/>, or null when it can.</summary>
    public static string? Problem(StirringTransforms transforms, IReadOnlyList<long> eventShape)
    {
        if (!Enum.IsDefined(transforms))
        {
            return $"{(int)transforms} is not a StirringTransforms value";
        }

        if (eventShape.Count < 2)
        {
            return $"stirring permutes the pixels of images [..., H, W], but the flow's events are {Shapes.Format(eventShape.ToArray())}";
        }

        var (height, width) = (eventShape[^2], eventShape[^1]);
        return transforms switch
        {
            StirringTransforms.Symmetries when height * width < 2 =>
                $"every symmetry of a {height}×{width} image is the identity (events {Shapes.Format(eventShape.ToArray())})",
            StirringTransforms.QuadrantDerangements when height % 2 != 0 || width % 2 != 0 =>
                $"shaking cuts images into 2×2 equal quadrants and needs even H and W, but the events are {Shapes.Format(eventShape.ToArray())}",
            _ => null,
        };
    }

    /// <summary>The transforms of <paramref name="transforms"/> for events <paramref name="eventShape"/> (checked by <see cref="Problem"/>).</summary>
    public static Func<Tensor, Tensor>[] For(StirringTransforms transforms, IReadOnlyList<long> eventShape)
    {
        var rank = eventShape.Count + 1;
        long h = rank - 2, w = rank - 1;
        if (transforms == StirringTransforms.QuadrantDerangements)
        {
            return QuadrantDerangementOrders.Select(order => (Func<Tensor, Tensor>)(x => Shake(x, order, h, w))).ToArray();
        }

        Func<Tensor, Tensor> flipW = x => x.flip(w);
        Func<Tensor, Tensor> flipH = x => x.flip(h);
        Func<Tensor, Tensor> rotate180 = x => x.flip(h, w);
        if (eventShape[^2] != eventShape[^1])
        {
            return [flipW, flipH, rotate180];
        }

        return
        [
            x => x.rot90(1, (h, w)).contiguous(),
            rotate180,
            x => x.rot90(3, (h, w)).contiguous(),
            flipW,
            flipH,
            x => x.transpose(h, w).contiguous(),
            x => x.transpose(h, w).flip(h, w).contiguous(),
        ];
    }

    // Output quadrant q = input quadrant order[q]; quadrants are the H/2 × W/2 blocks, row by row.
    private static Tensor Shake(Tensor x, int[] order, long h, long w)
    {
        using var scope = NewDisposeScope();
        var (halfH, halfW) = (x.size((int)h) / 2, x.size((int)w) / 2);
        var quadrants = new Tensor[4];
        for (int q = 0; q < 4; q++)
        {
            quadrants[q] = x.narrow(h, (q / 2) * halfH, halfH).narrow(w, (q % 2) * halfW, halfW);
        }

        var top = cat([quadrants[order[0]], quadrants[order[1]]], w);
        var bottom = cat([quadrants[order[2]], quadrants[order[3]]], w);
        return scope.MoveToOuter(cat([top, bottom], h));
    }

    private static int[][] Derangements(int n)
    {
        var result = new List<int[]>();
        Permute([], Enumerable.Range(0, n).ToList());
        return [.. result];

        void Permute(List<int> prefix, List<int> rest)
        {
            if (rest.Count == 0)
            {
                result.Add([.. prefix]);
                return;
            }

            foreach (var next in rest.ToArray())
            {
                if (next == prefix.Count)
                {
                    continue;
                }

                prefix.Add(next);
                rest.Remove(next);
                Permute(prefix, rest);
                rest.Insert(rest.TakeWhile(r => r < next).Count(), next);
                prefix.RemoveAt(prefix.Count - 1);
            }
        }
    }
}
