using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Models;
using FlowOod.Precision;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Persistence;

/// <summary>A validated model file: its header, and its tensors read on demand with their declared shapes checked first.</summary>
internal sealed class ModelFileReader : IDisposable
{
    /// <summary>Flows one file may describe.</summary>
    public const int MaxFlows = 1024;

    private const int MaxEventRank = 4;
    private const long MaxEventEntries = 1L << 28;
    private readonly FileStream file;
    private readonly Dictionary<string, TensorEntry> tensors;
    private readonly long dataStart;
    private readonly HashSet<string> consumed = new(StringComparer.Ordinal);
    private readonly List<NormalizingFlow> created = [];

    public ModelFileReader(string path, FileStream file, (uint Version, JsonObject Header, Dictionary<string, TensorEntry> Tensors, long DataStart) validated)
    {
        Path = path;
        this.file = file;
        (FormatVersion, Header, tensors, dataStart) = validated;
    }

    public string Path { get; }

    public JsonObject Header { get; }

    /// <summary>The format version the file was written in.</summary>
    public uint FormatVersion { get; }

    /// <summary>
    /// Whether the flows read are part of a scorer, detector, test or gate, which scored (and so had every ActNorm
    /// initialised) before it was saved; a flow file may hold a flow saved before its first training step.
    /// </summary>
    public bool FlowsMustScore { get; set; }

    /// <summary>Reads a float64 vector stored under <paramref name="name"/>, checking its declared shape first.</summary>
    public double[] ReadDoubles(string name, long? expectedLength = null)
    {
        var entry = Entry(name);
        if (entry.Dtype != ScalarType.Float64 || entry.Shape.Length != 1 || (expectedLength is { } n && entry.Shape[0] != n))
        {
            throw ModelContainer.Error(Path, $"tensor '{name}' must be a float64 vector{(expectedLength is { } m ? $" of {m} entries" : string.Empty)}, the file declares {TensorCodec.Name(entry.Dtype)} {Shapes.Format(entry.Shape)}");
        }

        var values = Read<double>(entry);
        CheckFinite(entry, values);
        return values;
    }

    /// <summary>Rebuilds the flow whose index in the header's <c>flows</c> array is <paramref name="content"/>.<paramref name="name"/>.</summary>
    public NormalizingFlow ReadFlow(JsonObject content, string name, string contentPath, ModelLoadOptions options)
    {
        return ReadFlowAt(Json.Int(content, name, contentPath, 0, MaxFlows - 1), $"{contentPath}.{name}", options);
    }

    /// <summary>Rebuilds the flows whose indices are the array <paramref name="content"/>.<paramref name="name"/>.</summary>
    public NormalizingFlow[] ReadFlows(JsonObject content, string name, string contentPath, ModelLoadOptions options)
    {
        var indices = Json.LongArray(content, name, contentPath, MaxFlows, 0, MaxFlows - 1);
        var flows = new NormalizingFlow[indices.Length];
        for (int i = 0; i < flows.Length; i++)
        {
            flows[i] = ReadFlowAt((int)indices[i], $"{contentPath}.{name}[{i}]", options);
        }

        return flows;
    }

    private NormalizingFlow ReadFlowAt(int index, string reference, ModelLoadOptions options)
    {
        var flows = Json.Array(Header, "flows", "$", MaxFlows);
        var node = index < flows.Count && flows[index] is JsonObject flow
            ? flow
            : throw ModelContainer.Error(Path, $"{reference} refers to flow {index}, which the header does not describe");
        return ReadFlow(node, $"$.flows[{index}]", options);
    }

    private NormalizingFlow ReadFlow(JsonObject node, string where, ModelLoadOptions options)
    {
        var builder = Json.String(node, "builder", where, 64);
        if (!FlowArchitecture.IsValidName(builder))
        {
            throw ModelContainer.Error(Path, $"{where}.builder \"{builder}\" is not a valid architecture name");
        }

        var optionsNode = (JsonObject)Json.Object(node, "options", where).DeepClone();
        var eventShape = Json.LongArray(node, "eventShape", where, MaxEventRank, 1, MaxEventEntries);
        if (eventShape.Length == 0 || eventShape.Aggregate(1.0, (p, d) => p * d) > MaxEventEntries)
        {
            throw ModelContainer.Error(Path, $"{where}.eventShape {Shapes.Format(eventShape)} is empty or has more than {MaxEventEntries} entries");
        }

        var dtypeName = Json.String(node, "dtype", where, 16);
        if (!TensorCodec.TryParse(dtypeName, out var dtype, out _) || dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw ModelContainer.Error(Path, $"{where}.dtype \"{dtypeName}\" is not float32 or float64");
        }

        var prefix = Json.String(node, "tensorPrefix", where, 64);
        var code = options.Catalog ?? throw new ArgumentException("ModelLoadOptions.Catalog is null; use ModelCatalog.BuiltIn or a catalog made from it.", nameof(options));
        var catalog = code.Components;
        var builtIn = catalog.Contains<IFlowBuilderOptions>(builder);
        FlowArchitecture architecture;
        Func<Device?, NormalizingFlow> build;
        object? settings = null;
        var ownComponents = false;
        if (builtIn)
        {
            var path = where + ".options";
            var builderOptions = ReadBuilderOptions(catalog, builder, optionsNode, path, eventShape, FormatVersion);
            ownComponents = FlowCopy.IsBuiltIn(builderOptions);
            if (ownComponents && builderOptions is not AutoregressiveFlowOptions)
            {
                // An autoregressive flow stores no masks and allocates nothing per event entry when built.
                StoredFlowChecks.EventAgainstMasks(Path, tensors.Values, prefix, eventShape, where);
            }

            architecture = FlowArchitecture.Create(builder, optionsNode, (IComponent)builderOptions);
            settings = builderOptions;
            build = device => BuildFromOptions(builderOptions, builder, path, eventShape, device);
            CheckAgainstFile(BuildOnMeta(builderOptions, build), prefix, dtype, where);
        }
        else if (code.FlowFactory(builder) is { } factory)
        {
            architecture = FlowArchitecture.Create(builder, optionsNode, component: null);
            build = _ => factory(architecture, eventShape) ?? throw new InvalidOperationException($"The factory for \"{builder}\" returned null.");
        }
        else
        {
            throw ModelContainer.Error(
                Path,
                $"its flow was built by the custom factory \"{builder}\"; register that factory to load it: ModelLoadOptions.Catalog = " +
                $"ModelCatalog.BuiltIn.WithFlowFactory(\"{builder}\", factory) (or, if \"{builder}\" is your own builder-options component, " +
                "register its type: ModelCatalog.BuiltIn.With<T>())");
        }

        // Every parameter and buffer is overwritten from the file below: nothing is initialised, and a flow of FlowOod's own
        // components never reads or advances torch's global generator (see FlowCopy.BuildForStateCopy).
        var flow = FlowCopy.BuildForStateCopy(settings, () => build(builtIn ? options.Device : null));
        try
        {
            if (!flow.EventShape.SequenceEqual(eventShape))
            {
                throw ModelContainer.Error(Path, $"the factory \"{builder}\" built a flow for {Shapes.Format(flow.EventShape.ToArray())}, the file declares {Shapes.Format(eventShape)}");
            }

            flow.to(dtype);
            var state = StateOf(flow);

            // Every float tensor of FlowOod's builders is finite (no -inf sentinels or infinite bounds), so a non-finite
            // value is damage that would only show up as NaN or infinite scores. A custom architecture's buffers are the
            // factory's business (they may hold sentinels); its parameters are checked.
            var parameters = flow.named_parameters().Select(p => p.name).ToHashSet(StringComparer.Ordinal);
            HashSet<string> stateBuffers = ownComponents ? StoredFlowChecks.StateBuffers(flow) : [];
            if (!builtIn)
            {
                CheckAgainstFile(state.ToDictionary(p => p.Key, p => (p.Value.dtype, p.Value.Sizes())), prefix, dtype, where);
            }

            using (no_grad())
            {
                foreach (var (name, target) in state)
                {
                    var entry = Entry(prefix + name);
                    using var loaded = ReadTensor(entry, checkFinite: builtIn || parameters.Contains(name));
                    if (ownComponents && !loaded.is_floating_point())
                    {
                        StoredFlowChecks.IntegerBuffer(Path, entry, loaded, target, stateBuffers.Contains(name));
                    }

                    target.copy_(loaded);
                }
            }

            if (FlowsMustScore && flow.named_modules().FirstOrDefault(m => m.module is ActNorm { IsInitialized: false }) is { module: not null } uninitialised)
            {
                throw ModelContainer.Error(
                    Path,
                    $"tensor '{prefix}{uninitialised.name}.initialized' says the ActNorm was never initialised, but a scorer's flow scored before it was saved (the file is damaged)");
            }

            flow.Architecture = architecture;
            if (!builtIn && options.Device is { } device)
            {
                flow.to(device);
            }

            flow.eval();
            if (ConditionerPrecision.Choose(options.Precision, options.Device).Precision == ComputePrecision.BFloat16)
            {
                ConditionerPrecision.FoldForInference(flow);
                ConditionerPrecision.ConvertForInference(flow);
            }

            created.Add(flow);
            return flow;
        }
        catch
        {
            flow.Dispose();
            throw;
        }
    }

    /// <summary>Throws when a tensor of the file was never read: a file must hold exactly what its header describes.</summary>
    public void CheckAllConsumed()
    {
        var unused = tensors.Keys.Where(name => !consumed.Contains(name)).ToList();
        if (unused.Count > 0)
        {
            throw ModelContainer.Error(Path, $"it holds {unused.Count} tensor(s) its content does not use, e.g. '{unused[0]}'");
        }
    }

    /// <summary>The load succeeded: the flows created so far belong to the caller now.</summary>
    public void KeepCreatedFlows() => created.Clear();

    /// <summary>Closes the file and disposes every flow created by a load that did not complete.</summary>
    public void Dispose()
    {
        foreach (var flow in created)
        {
            flow.Dispose();
        }

        created.Clear();
        file.Dispose();
    }

    private static Dictionary<string, (ScalarType Dtype, long[] Shape)> BuildOnMeta(IFlowBuilderOptions settings, Func<Device?, NormalizingFlow> build)
    {
        // The stored options decide how much memory the real build allocates. Building on libtorch's meta device first
        // costs no tensor memory and yields the exact parameter shapes, which must match the file's table before the
        // real build. The device is passed down explicitly to every component (torch's default device, which is
        // process-wide, is never touched), so other threads are unaffected.
        // A user's component may ignore the device and draw on the CPU, so this build is isolated like the real one.
        using var flow = FlowCopy.BuildForStateCopy(settings, () => build(new Device(DeviceType.META)));
        return StateOf(flow).ToDictionary(p => p.Key, p => (p.Value.dtype, p.Value.Sizes()), StringComparer.Ordinal);
    }

    /// <summary>Reads a builder's stored options through the catalog; constructor checks that fail name the flow.</summary>
    private static IFlowBuilderOptions ReadBuilderOptions(ComponentCatalog catalog, string builder, JsonObject optionsNode, string path, long[] eventShape, uint formatVersion)
    {
        try
        {
            return catalog.Read<IFlowBuilderOptions>(builder, optionsNode, path, new SettingsOnlySource(formatVersion));
        }
        catch (ArgumentException e)
        {
            throw new HeaderException($"{path}: the stored {builder} options do not build a flow for shape {Shapes.Format(eventShape)}: {e.Message}", e);
        }
    }

    private static NormalizingFlow BuildFromOptions(IFlowBuilderOptions options, string builder, string path, long[] eventShape, Device? device)
    {
        try
        {
            return options.Build(eventShape, device);
        }
        catch (ArgumentException e)
        {
            throw new HeaderException($"{path}: the stored {builder} options do not build a flow for shape {Shapes.Format(eventShape)}: {e.Message}", e);
        }
    }

    private static Dictionary<string, Tensor> StateOf(NormalizingFlow flow) =>
        flow.state_dict().ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private void CheckAgainstFile(Dictionary<string, (ScalarType Dtype, long[] Shape)> expected, string prefix, ScalarType flowDtype, string where)
    {
        var stored = tensors.Keys.Where(name => name.StartsWith(prefix, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, (dtype, shape)) in expected)
        {
            var entry = tensors.GetValueOrDefault(prefix + name)
                ?? throw ModelContainer.Error(Path, $"{where}: the architecture has the tensor '{name}' but the file does not store '{prefix + name}'");
            var expectedDtype = dtype is ScalarType.Float32 or ScalarType.Float64 ? flowDtype : dtype;
            if (entry.Dtype != expectedDtype || !entry.Shape.SequenceEqual(shape))
            {
                throw ModelContainer.Error(Path, $"{where}: tensor '{prefix + name}' is stored as {TensorCodec.Name(entry.Dtype)} {Shapes.Format(entry.Shape)} but the architecture needs {TensorCodec.Name(expectedDtype)} {Shapes.Format(shape)}");
            }

            stored.Remove(prefix + name);
        }

        if (stored.Count > 0)
        {
            throw ModelContainer.Error(Path, $"{where}: the file stores '{stored.First()}', which the architecture does not have");
        }
    }

    private TensorEntry Entry(string name)
    {
        var entry = tensors.GetValueOrDefault(name) ?? throw ModelContainer.Error(Path, $"the tensor '{name}' is missing");
        consumed.Add(name);
        return entry;
    }

    /// <summary>
    /// A new CPU tensor with the entry's data, read straight into a typed array (length already validated); with
    /// <paramref name="checkFinite"/>, a floating tensor holding NaN or ±∞ is a format error naming it.
    /// </summary>
    private Tensor ReadTensor(TensorEntry entry, bool checkFinite) => entry.Dtype switch
    {
        ScalarType.Float32 => tensor(checkFinite ? CheckFinite(entry, Read<float>(entry)) : Read<float>(entry), entry.Shape),
        ScalarType.Float64 => tensor(checkFinite ? CheckFinite(entry, Read<double>(entry)) : Read<double>(entry), entry.Shape),
        ScalarType.Int64 => tensor(Read<long>(entry), entry.Shape),
        ScalarType.Int32 => tensor(Read<int>(entry), entry.Shape),
        ScalarType.Byte => tensor(Read<byte>(entry), entry.Shape),
        ScalarType.Bool => tensor(TensorCodec.ToBools(Read<byte>(entry), Path, entry.Name), entry.Shape),
        var other => throw new NotSupportedException($"Model files do not store {other} tensors."),
    };

    private T[] CheckFinite<T>(TensorEntry entry, T[] values)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
            {
                var kind = T.IsNaN(values[i]) ? "NaN" : T.IsNegative(values[i]) ? "-∞" : "∞";
                throw ModelContainer.Error(Path, $"tensor '{entry.Name}' holds {kind} at index {i}; stored parameters, statistics and scores must be finite (the file is damaged, or was saved from a model that had diverged)");
            }
        }

        return values;
    }

    private T[] Read<T>(TensorEntry entry)
        where T : unmanaged
    {
        var values = new T[entry.Length / System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        file.Position = dataStart + entry.Offset;
        file.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }
}
