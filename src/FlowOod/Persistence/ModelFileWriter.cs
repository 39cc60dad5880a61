using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Text.Json.Nodes;
using System;
using FlowOod.Components;

namespace FlowOod.Persistence;

/// <summary>Collects the flows, vectors and settings of one model file, then writes it atomically.</summary>
internal sealed class ModelFileWriter
{
    private const int MaxMetadataEntries = 256;
    private const int MaxMetadataText = 1 << 16;
    // Vectors are stored before the flows' tensors, whatever order a component writes them in (the order of every file
    // written so far, which the golden files freeze).
    private readonly List<PendingTensor> vectors = [];
    private readonly List<PendingTensor> flowTensors = [];
    private readonly JsonArray flows = [];
    private readonly List<NormalizingFlow> flowInstances = [];

    /// <summary>Adds a flow (once per instance) and returns its index in the header's <c>flows</c> array.</summary>
    public int AddFlow(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var existing = flowInstances.IndexOf(flow);
        if (existing >= 0)
        {
            return existing;
        }

        var architecture = flow.Architecture ?? throw new NotSupportedException(
            "This flow has no Architecture, so a model file cannot say how to rebuild it: it was composed by hand, or a builder " +
            "option holds a custom component (mask, st-network, bottleneck, scale activation) that does not describe itself, such as a " +
            "CustomMask. Make that component describe itself (implement IComponent<TSelf> with a [ComponentName], and register it in " +
            "ModelLoadOptions.Catalog with ModelCatalog.With<T>() to load), or set flow.Architecture = FlowArchitecture.Custom(name, optionsJson) " +
            "and register a factory under that name with ModelCatalog.WithFlowFactory(name, factory).");
        var state = flow.state_dict();
        if (state.Values.Any(t => Layers.LowPrecision.IsLow(t.dtype)))
        {
            throw new NotSupportedException(
                "This flow holds 16-bit st-network weights: it is an inference copy (ConditionerPrecision.CreateInferenceCopy, or a " +
                "model file loaded with ModelLoadOptions.Precision = BFloat16), which model files do not store. Save the float32 flow it " +
                "was made from; loading that file with ModelLoadOptions.Precision = BFloat16 gives the same bf16 copy.");
        }

        CheckFinite(flow, state, builtFromOptions: architecture.Component is Models.IFlowBuilderOptions);
        var dtype = TensorCodec.FloatingDtype(flow);
        var index = flowInstances.Count;
        var prefix = $"flows.{index}.";
        foreach (var (name, tensor) in state)
        {
            flowTensors.Add(new PendingTensor(prefix + name, tensor.dtype, tensor.Sizes(), tensor.numel() * tensor.ElementSize, () => TensorCodec.ToBytes(tensor)));
        }

        flows.Add(new JsonObject
        {
            ["builder"] = architecture.Builder,
            ["options"] = architecture.OptionsNode.DeepClone(),
            ["eventShape"] = Json.ToArray(flow.EventShape),
            ["dtype"] = TensorCodec.Name(dtype),
            ["tensorPrefix"] = prefix,
        });
        flowInstances.Add(flow);
        return index;
    }

    // The loader refuses non-finite parameters (and, for flows of builder options, non-finite buffers) as damage, so a
    // file holding them could never be read back: refuse to write it instead, naming the tensor.
    private static void CheckFinite(NormalizingFlow flow, IReadOnlyDictionary<string, TorchSharp.torch.Tensor> state, bool builtFromOptions)
    {
        var parameters = flow.named_parameters().Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, tensor) in state)
        {
            if (!tensor.is_floating_point() || !(builtFromOptions || parameters.Contains(name)))
            {
                continue;
            }

            using var scope = TorchSharp.torch.NewDisposeScope();
            using var inference = TorchSharp.torch.inference_mode();
            var nonFinite = tensor.isfinite().logical_not_().flatten();
            if (nonFinite.any().item<bool>())
            {
                var index = nonFinite.nonzero()[0, 0].item<long>();
                throw new ArgumentException(
                    $"Cannot save the flow: tensor '{name}' holds {tensor.flatten()[index].to(TorchSharp.torch.ScalarType.Float64).item<double>()} at index {index}; parameters and statistics "
                    + "must be finite (the flow's training diverged, or it was damaged), and the loader would refuse the file.",
                    nameof(flow));
            }
        }
    }

    /// <summary><paramref name="wanted"/>, or, when a tensor has that name already, <paramref name="wanted"/> with the first free suffix ".1", ".2", ...</summary>
    public string UniqueTensorName(string wanted)
    {
        var name = wanted;
        for (int i = 1; vectors.Concat(flowTensors).Any(t => t.Name == name); i++)
        {
            name = $"{wanted}.{i}";
        }

        return name;
    }

    /// <summary>Adds a float64 vector under <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">A value is NaN or ±∞ (the loader would refuse the file).</exception>
    public void AddDoubles(string name, IReadOnlyList<double> values)
    {
        var array = values.ToArray();
        var bad = Array.FindIndex(array, v => !double.IsFinite(v));
        if (bad >= 0)
        {
            throw new ArgumentException($"Cannot save '{name}': value {bad} is {array[bad]}; stored statistics, thresholds and scores must be finite.");
        }

        vectors.Add(new PendingTensor(
            name, TorchSharp.torch.ScalarType.Float64, [array.LongLength], array.LongLength * sizeof(double), () => System.Runtime.InteropServices.MemoryMarshal.AsBytes(array.AsSpan()).ToArray()));
    }

    /// <summary>Writes the file: kind, content, flows, metadata and tensors.</summary>
    public void Write(string path, string kind, JsonObject content, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(path);
        var meta = new JsonObject();
        if (metadata is not null)
        {
            if (metadata.Count > MaxMetadataEntries)
            {
                throw new ArgumentException($"Metadata has {metadata.Count} entries; at most {MaxMetadataEntries} are stored.", nameof(metadata));
            }

            foreach (var (key, value) in metadata)
            {
                if (key.Length is 0 or > 256 || value is null || value.Length > MaxMetadataText)
                {
                    throw new ArgumentException($"Metadata keys are 1-256 characters and values non-null and at most {MaxMetadataText}; '{key}' is not.", nameof(metadata));
                }

                meta[key] = value;
            }
        }

        var header = new JsonObject
        {
            ["format"] = ModelFile.FormatName,
            ["flowOodVersion"] = ModelFile.LibraryVersion,
            ["kind"] = kind,
            ["metadata"] = meta,
            ["flows"] = flows.DeepClone(),
            ["content"] = content,
        };
        ModelContainer.Write(path, header, [.. vectors, .. flowTensors]);
    }
}
