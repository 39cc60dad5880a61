using System.Collections.Generic;
using System.Text.Json.Nodes;
using FlowOod.Components;

namespace FlowOod;

/// <summary>
/// Fields of components a model file stores beside their flows (scorers): flows, stored as tensors of the file with the
/// field holding a reference, and scoring noise, stored as <c>{"kind": ..., "seed": ...}</c>.
/// </summary>
/// <remarks>
/// A flow read with <see cref="ReadFlow"/> or <see cref="ReadFlows"/> is new and belongs to the component being read:
/// build the component so that disposing it disposes the flow (<c>ownsFlow: true</c>); if reading fails afterwards,
/// the loader disposes it.
/// </remarks>
public static class ComponentFlowFields
{
    /// <summary>Writes a flow: the model file stores its architecture and tensors, the field its index.</summary>
    /// <param name="writer">The component's writer.</param>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="flow">A flow with an <see cref="NormalizingFlow.Architecture"/>.</param>
    /// <exception cref="System.NotSupportedException">The flow has no architecture, or the description holds settings only.</exception>
    public static void WriteFlow(this ComponentWriter writer, string name, NormalizingFlow flow)
    {
        System.ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStored(name, flow);
    }

    /// <summary>Writes a list of flows (e.g. an ensemble), in order.</summary>
    /// <param name="writer">The component's writer.</param>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="flows">Flows with an <see cref="NormalizingFlow.Architecture"/>.</param>
    /// <exception cref="System.NotSupportedException">A flow has no architecture, or the description holds settings only.</exception>
    public static void WriteFlows(this ComponentWriter writer, string name, IReadOnlyList<NormalizingFlow> flows)
    {
        System.ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStored(name, flows);
    }

    /// <summary>Rebuilds the flow written by <see cref="WriteFlow"/>, in evaluation mode on the load's device; it belongs to the component read.</summary>
    /// <param name="reader">The component's reader.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The flow.</returns>
    /// <exception cref="ComponentFormatException">The field is missing or invalid, or the description holds settings only.</exception>
    public static NormalizingFlow ReadFlow(this ComponentReader reader, string name)
    {
        System.ArgumentNullException.ThrowIfNull(reader);
        return reader.ReadStored<NormalizingFlow>(name);
    }

    /// <summary>Rebuilds the flows written by <see cref="WriteFlows"/>, in order; they belong to the component read.</summary>
    /// <param name="reader">The component's reader.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The flows.</returns>
    /// <exception cref="ComponentFormatException">The field is missing or invalid, or the description holds settings only.</exception>
    public static NormalizingFlow[] ReadFlows(this ComponentReader reader, string name)
    {
        System.ArgumentNullException.ThrowIfNull(reader);
        return reader.ReadStored<NormalizingFlow[]>(name);
    }

    /// <summary>Writes scoring noise as <c>{"kind": ..., "seed": ...}</c>.</summary>
    /// <param name="writer">The component's writer.</param>
    /// <param name="name">The field's name, unique within the component.</param>
    /// <param name="noise">The noise.</param>
    public static void WriteNoise(this ComponentWriter writer, string name, ScoringNoise noise)
    {
        System.ArgumentNullException.ThrowIfNull(writer);
        System.ArgumentNullException.ThrowIfNull(noise);
        writer.WriteObject(name, fields =>
        {
            fields.WriteEnum("kind", noise.Kind);
            fields.WriteNode("seed", JsonValue.Create(noise.Seed));
        });
    }

    /// <summary>
    /// Reads the noise written by <see cref="WriteNoise"/>. In format version 1, <c>"Seeded"</c> meant today's
    /// <see cref="ScoringNoiseKind.SeededStream"/> (so version-1 files give their recorded scores) and
    /// <c>"SeededStream"</c> did not exist; from version 2 on, <c>"Seeded"</c> is the batch-independent noise keyed by
    /// each input's values.
    /// </summary>
    /// <param name="reader">The component's reader.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The noise.</returns>
    /// <exception cref="ComponentFormatException">The field is missing or invalid.</exception>
    public static ScoringNoise ReadNoise(this ComponentReader reader, string name)
    {
        System.ArgumentNullException.ThrowIfNull(reader);
        var fields = reader.ReadObject(name);
        var kind = ScoringNoise.KindInFormat(fields.ReadEnum<ScoringNoiseKind>("kind"), reader.FormatVersion)
            ?? throw fields.Invalid("kind", "SeededStream does not exist in format version 1");
        return ScoringNoise.Of(kind, fields.ReadULong("seed"));
    }
}
