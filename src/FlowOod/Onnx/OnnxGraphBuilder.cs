using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>
/// The ONNX graph (opset <see cref="OnnxExport.Opset"/>) that <see cref="OnnxExport"/> builds: nodes, constants
/// (initializers) and unique names. Components add their nodes through it (see <see cref="IOnnxExportable"/>).
/// </summary>
/// <remarks>Every floating tensor of the graph is float32; the batch axis N is dynamic. Not thread-safe: one export at a time.</remarks>
public sealed class OnnxGraphBuilder
{
    private readonly List<ProtoWriter> nodes = [];
    private readonly List<ProtoWriter> initializers = [];
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private readonly Dictionary<float, string> scalars = [];
    private string batchInput;
    private string? batchShape;

    internal OnnxGraphBuilder(string batchInput)
    {
        this.batchInput = batchInput;
        names.Add(batchInput);
    }

    /// <summary>Nodes added so far.</summary>
    public int NodeCount => nodes.Count;

    /// <summary>A name not used in the graph yet, built from <paramref name="hint"/>.</summary>
    /// <param name="hint">A readable stem, e.g. <c>"coupling_scale"</c>.</param>
    /// <returns>The name, reserved.</returns>
    public string UniqueName(string hint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hint);
        var name = hint;
        for (int k = 1; !names.Add(name); k++)
        {
            name = hint + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        return name;
    }

    /// <summary>Adds a node of the default ONNX domain with one output.</summary>
    /// <param name="opType">The operator, e.g. <c>"Conv"</c>.</param>
    /// <param name="inputs">Its inputs by name (an empty string skips an optional input).</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The output's name.</returns>
    public string Node(string opType, IReadOnlyList<string> inputs, params OnnxAttributeValue[] attributes) =>
        Node(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node of the default ONNX domain with <paramref name="outputCount"/> outputs.</summary>
    /// <param name="opType">The operator, e.g. <c>"Split"</c>.</param>
    /// <param name="inputs">Its inputs by name (an empty string skips an optional input).</param>
    /// <param name="outputCount">How many outputs it has (at least 1).</param>
    /// <param name="attributes">Its attributes.</param>
    /// <returns>The outputs' names.</returns>
    public IReadOnlyList<string> Node(string opType, IReadOnlyList<string> inputs, int outputCount, params OnnxAttributeValue[] attributes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(attributes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputCount);
        var outputs = Enumerable.Range(0, outputCount).Select(_ => UniqueName(opType.ToLowerInvariant())).ToArray();
        var node = new ProtoWriter();
        foreach (var input in inputs)
        {
            node.Text(1, input ?? throw new ArgumentException("An input name is null.", nameof(inputs)));
        }

        foreach (var output in outputs)
        {
            node.Text(2, output);
        }

        node.Text(3, "node_" + nodes.Count.ToString(CultureInfo.InvariantCulture)).Text(4, opType);
        foreach (var attribute in attributes)
        {
            node.Message(5, attribute.Encode());
        }

        nodes.Add(node);
        return outputs;
    }

    /// <summary>
    /// A constant holding <paramref name="tensor"/>'s values: float32 for a floating tensor (converted), int64 for an
    /// integer one, bool for a bool one.
    /// </summary>
    /// <param name="hint">A readable stem for its name.</param>
    /// <param name="tensor">The values (any device; copied).</param>
    /// <returns>The constant's name.</returns>
    public string Constant(string hint, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var host = tensor.detach().cpu();
        var shape = host.Sizes();
        if (host.is_floating_point())
        {
            return Constant(hint, host.to(ScalarType.Float32).contiguous().data<float>().ToArray(), shape);
        }

        if (host.dtype == ScalarType.Bool)
        {
            var values = host.contiguous().data<bool>().ToArray();
            return Initializer(hint, 9, shape, values.Select(b => b ? (byte)1 : (byte)0).ToArray());
        }

        return Int64Constant(hint, host.to(ScalarType.Int64).contiguous().data<long>().ToArray(), shape);
    }

    /// <summary>A float32 constant of shape <paramref name="shape"/> (row-major values).</summary>
    /// <param name="hint">A readable stem for its name.</param>
    /// <param name="values">The values; their count must fill the shape.</param>
    /// <param name="shape">The shape (empty for a scalar).</param>
    /// <returns>The constant's name.</returns>
    public string Constant(string hint, float[] values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Initializer(hint, 1, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), values.Length);
    }

    // A float64 constant (the feature standardiser, computed in float64 as FeatureStandardizer computes it).
    internal string Float64Constant(string hint, double[] values, params long[] shape) =>
        Initializer(hint, 11, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), values.Length);

    // A float64 scalar constant (the scores of composite scorers are computed in float64, as FlowOod computes them).
    internal string Float64Scalar(double value) => Float64Constant("f64", [value]);

    // Per-example tensors (PerExample) take their N from `value` until the returned scope ends: a graph that runs a flow
    // on a batch of another size than the input (e.g. stacked transforms of the input) wraps that flow's export in it.
    internal IDisposable BatchOf(string value)
    {
        var saved = (batchInput, batchShape);
        batchInput = value;
        batchShape = null;
        return new Restore(() => (batchInput, batchShape) = saved);
    }

    /// <summary>An int64 constant of shape <paramref name="shape"/> (row-major values).</summary>
    /// <param name="hint">A readable stem for its name.</param>
    /// <param name="values">The values; their count must fill the shape.</param>
    /// <param name="shape">The shape (empty for a scalar).</param>
    /// <returns>The constant's name.</returns>
    public string Int64Constant(string hint, long[] values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Initializer(hint, 7, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), values.Length);
    }

    /// <summary>A float32 scalar constant (one per value in a graph).</summary>
    /// <param name="value">The value, rounded to float32.</param>
    /// <returns>The constant's name.</returns>
    public string Scalar(double value)
    {
        var single = (float)value;
        if (!scalars.TryGetValue(single, out var name))
        {
            name = Constant("scalar", [single]);
            scalars[single] = name;
        }

        return name;
    }

    /// <summary>A float32 tensor <c>[N]</c> holding <paramref name="value"/> for every example of the batch.</summary>
    /// <param name="value">The value, rounded to float32 (e.g. a constant log-determinant).</param>
    /// <returns>The tensor's name.</returns>
    public string PerExample(double value)
    {
        batchShape ??= Node("Slice", [Node("Shape", [batchInput]), Int64Constant("zero", [0], 1), Int64Constant("one", [1], 1)]);
        return Node("Expand", [Scalar(value), batchShape]);
    }

    /// <summary>Σ over every axis but the batch axis: <c>[N, ...]</c> → <c>[N]</c>.</summary>
    /// <param name="perEntry">The per-entry values.</param>
    /// <returns>The per-example sums' name.</returns>
    public string SumPerExample(string perEntry)
    {
        var flat = Node("Flatten", [perEntry], OnnxAttributeValue.Of("axis", 1));
        return Node("ReduceSum", [flat, Int64Constant("axes", [1], 1)], OnnxAttributeValue.Of("keepdims", 0));
    }

    /// <summary>The sum of two per-example log-determinants, either of which may be null (zero).</summary>
    /// <param name="first">The first, or null.</param>
    /// <param name="second">The second, or null.</param>
    /// <returns>first + second, or null when both are null.</returns>
    public string? AddLogDets(string? first, string? second) =>
        first is null ? second : second is null ? first : Node("Add", [first, second]);

    /// <summary>Exports a bijector's forward pass (a built-in one, or one implementing <see cref="IOnnxExportable"/>).</summary>
    /// <param name="bijector">The bijector.</param>
    /// <param name="input">Its input.</param>
    /// <returns>Its output and log-determinant.</returns>
    /// <exception cref="NotSupportedException">The bijector (named in the message) cannot be exported.</exception>
    public OnnxBijectorOutput Bijector(Bijector bijector, OnnxValue input)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        ArgumentNullException.ThrowIfNull(input);
        return bijector switch
        {
            IOnnxExportable custom => custom.ExportForward(this, input),
            IOnnxBuiltInBijector builtIn => builtIn.ExportForward(this, input),
            _ => throw Unsupported(bijector, nameof(IOnnxExportable)),
        };
    }

    /// <summary>
    /// Exports a module's evaluation-mode forward pass (a built-in st-network or layer, an identity, or a module
    /// implementing <see cref="IOnnxExportableModule"/>).
    /// </summary>
    /// <param name="module">The module.</param>
    /// <param name="input">Its input.</param>
    /// <returns>Its output.</returns>
    /// <exception cref="NotSupportedException">The module (named in the message) cannot be exported.</exception>
    public OnnxValue Module(nn.Module module, OnnxValue input)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(input);
        return module switch
        {
            IOnnxExportableModule exportable => exportable.ExportModule(this, input),
            TorchSharp.Modules.Identity => input,
            _ => throw Unsupported(module, nameof(IOnnxExportableModule)),
        };
    }

    /// <summary>The exception for a component that cannot export, naming its type and the interface to implement.</summary>
    internal static NotSupportedException Unsupported(object component, string interfaceName) => new(
        $"{component.GetType().FullName} ({component}) cannot be exported to ONNX: it is not a FlowOod built-in and does not "
        + $"implement FlowOod.Onnx.{interfaceName}. Implement that interface to emit its nodes.");

    /// <summary>GraphProto: node (1), name (2), initializer (5), doc_string (10), input (11), output (12).</summary>
    internal ProtoWriter Encode(string name, string? docString, ProtoWriter input, IEnumerable<ProtoWriter> outputs)
    {
        var graph = new ProtoWriter();
        foreach (var node in nodes)
        {
            graph.Message(1, node);
        }

        graph.Text(2, name);
        foreach (var initializer in initializers)
        {
            graph.Message(5, initializer);
        }

        if (!string.IsNullOrEmpty(docString))
        {
            graph.Text(10, docString);
        }

        graph.Message(11, input);
        foreach (var output in outputs)
        {
            graph.Message(12, output);
        }

        return graph;
    }

    /// <summary>Renames the value <paramref name="from"/> to the graph output <paramref name="to"/> (an Identity node).</summary>
    internal void Alias(string from, string to)
    {
        if (!names.Add(to))
        {
            throw new InvalidOperationException($"The name {to} is taken.");
        }

        nodes.Add(new ProtoWriter().Text(1, from).Text(2, to).Text(3, "node_" + nodes.Count.ToString(CultureInfo.InvariantCulture)).Text(4, "Identity"));
    }

    // TensorProto: dims (1), data_type (2: FLOAT 1, INT64 7, BOOL 9), name (8), raw_data (9, little-endian).
    private string Initializer(string hint, int dataType, long[] shape, byte[] raw, long? count = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var expected = shape.Aggregate(1L, (a, b) => a * b);
        if (shape.Any(d => d < 0) || (count ?? raw.Length) != expected)
        {
            throw new ArgumentException($"{count ?? raw.Length} values do not fill the shape [{string.Join(", ", shape)}].", nameof(shape));
        }

        var name = UniqueName(hint);
        var tensor = new ProtoWriter();
        foreach (var dim in shape)
        {
            tensor.Varint(1, dim);
        }

        tensor.Varint(2, dataType).Text(8, name).Bytes(9, raw);
        initializers.Add(tensor);
        return name;
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
