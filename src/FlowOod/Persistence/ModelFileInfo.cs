using System.Collections.Generic;

namespace FlowOod.Persistence;

/// <summary>What a model file's header says, read without loading any weights (see <see cref="ModelFile.ReadInfo"/>).</summary>
/// <param name="Kind">"flow", "scorer" or "detector".</param>
/// <param name="FormatVersion">The file format version.</param>
/// <param name="FlowOodVersion">The FlowOod version that wrote the file.</param>
/// <param name="Metadata">The metadata given when saving.</param>
/// <param name="FlowBuilders">The builder (architecture) name of every flow in the file.</param>
public sealed record ModelFileInfo(
    string Kind, uint FormatVersion, string FlowOodVersion, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<string> FlowBuilders);
