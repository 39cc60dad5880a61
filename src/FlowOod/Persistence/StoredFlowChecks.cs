using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Layers;
using static TorchSharp.torch;

namespace FlowOod.Persistence;

/// <summary>
/// Checks of a stored flow of FlowOod's own components (every builder option, mask, st-network and bottleneck defined in
/// FlowOod), whose structure the loader knows: its declared event against the masks it stores, before anything is built,
/// and its integer and bool buffers against the architecture, before they are copied in.
/// </summary>
internal static class StoredFlowChecks
{
    // FlowOod's builders store the masks of every coupling as bool tensors, those of the first coupling with one entry per
    // entry of the event (a squeeze before it only rearranges entries). A declared event larger than the largest mask
    // stored is damage, refused before the meta build: its masks are computed on the host, in time and memory
    // proportional to the declared event.
    public static void EventAgainstMasks(string path, IEnumerable<TensorEntry> tensors, string prefix, long[] eventShape, string where)
    {
        var entries = Shapes.Product(eventShape);
        var largest = tensors
            .Where(t => t.Dtype == ScalarType.Bool && t.Name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(t => t.Length)
            .DefaultIfEmpty(0)
            .Max();
        if (entries > largest)
        {
            throw ModelContainer.Error(
                path,
                $"{where}.eventShape {Shapes.Format(eventShape)} has {entries} entries, more than the {largest} of the largest coupling mask the file " +
                "stores for that flow (a FlowOod flow stores its first coupling's masks, one entry per event entry)");
        }
    }

    // The integer and bool buffers of FlowOod's modules that hold state rather than structure: ActNorm's `initialized`
    // flag and BatchNorm's `num_batches_tracked` counter. Every other one (coupling masks, channel lists, permutations) is
    // fixed by the architecture.
    public static HashSet<string> StateBuffers(NormalizingFlow flow)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, module) in flow.named_modules())
        {
            var at = name.Length == 0 ? string.Empty : name + ".";
            if (module is ActNorm)
            {
                names.Add(at + "initialized");
            }
            else if (module is BatchNorm2dLayer)
            {
                names.Add(at + "num_batches_tracked");
            }
        }

        return names;
    }

    // An index, channel list or mask of a flow of FlowOod's components must be exactly what its architecture builds (a
    // damaged index would otherwise fail inside libtorch while scoring, a damaged mask or a reordered permutation would
    // give another, possibly non-invertible, flow); a counter must not be negative.
    public static void IntegerBuffer(string path, TensorEntry entry, Tensor stored, Tensor built, bool isState)
    {
        using var scope = NewDisposeScope();
        var values = stored.to_type(ScalarType.Int64).data<long>().ToArray();
        if (isState)
        {
            var negative = Array.FindIndex(values, v => v < 0);
            if (negative >= 0)
            {
                throw ModelContainer.Error(path, $"tensor '{entry.Name}' holds the count {values[negative]}; a counter is never negative (the file is damaged)");
            }

            return;
        }

        var expected = built.cpu().to_type(ScalarType.Int64).data<long>().ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] != expected[i])
            {
                throw ModelContainer.Error(
                    path,
                    $"tensor '{entry.Name}' holds {values[i]} at index {i} where its architecture has {expected[i]}; coupling masks, channel lists and " +
                    "permutations are fixed by the architecture (the file is damaged)");
            }
        }
    }
}
