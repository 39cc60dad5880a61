using System.Collections.Generic;

namespace FlowOod.Onnx;

/// <summary>Settings of an ONNX export (<see cref="OnnxExport"/>).</summary>
public sealed class OnnxExportOptions
{
    /// <summary>The graph's name (GraphProto.name); default <c>"flowood_flow"</c>.</summary>
    public string GraphName { get; init; } = "flowood_flow";

    /// <summary>A description stored as the model's doc_string, or null.</summary>
    public string? Description { get; init; }

    /// <summary>
    /// Extra metadata_props entries (e.g. a detector's threshold). Keys starting with <c>flowood.</c> are reserved for
    /// the ones the export writes itself (<see cref="OnnxExport.MetadataPrefix"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
