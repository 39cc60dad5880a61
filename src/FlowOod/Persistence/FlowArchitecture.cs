using System;
using System.Text.Json.Nodes;

namespace FlowOod.Persistence;

/// <summary>
/// What a model file stores to rebuild a flow before loading its weights: the builder's name and its options as a JSON
/// object. FlowOod's builders (<c>RealNvp</c>, <c>SingleScaleRealNvp</c>, <c>Glow</c>, <c>TabularRealNvp</c>) set
/// <see cref="NormalizingFlow.Architecture"/> themselves; a flow composed by hand gets one with
/// <see cref="Custom"/> and is rebuilt at load time by a factory registered in <see cref="ModelLoadOptions.FlowFactories"/>.
/// </summary>
public sealed class FlowArchitecture
{
    private FlowArchitecture(string builder, JsonObject options)
    {
        Builder = builder;
        Options = options.ToJsonString();

        // Kept as parsed text, the form a file gives, so values read back the same whether the object came from a
        // builder (typed .NET values) or from a file (JSON elements).
        OptionsNode = (JsonObject)JsonNode.Parse(Options)!;
    }

    /// <summary>The builder's name, e.g. <c>"RealNvp"</c>, or the name of a custom factory.</summary>
    public string Builder { get; }

    /// <summary>The builder's options as JSON object text.</summary>
    public string Options { get; }

    internal JsonObject OptionsNode { get; }

    /// <summary>Describes a flow built by your own code, rebuilt at load time by the factory registered under <paramref name="name"/>.</summary>
    /// <param name="name">The factory's name (1–64 characters of letters, digits, '.', '-', '_'); not one of FlowOod's builders.</param>
    /// <param name="optionsJson">Your factory's options as a JSON object (default <c>{}</c>).</param>
    /// <exception cref="ArgumentException">The name is invalid or reserved, or the options are not a JSON object.</exception>
    public static FlowArchitecture Custom(string name, string optionsJson = "{}")
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(optionsJson);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"Custom architecture names are 1-64 letters, digits, '.', '-' or '_'; got \"{name}\".", nameof(name));
        }

        if (ArchitectureCodec.IsBuiltIn(name))
        {
            throw new ArgumentException($"\"{name}\" is the name of a FlowOod builder; choose another name for a custom architecture.", nameof(name));
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(optionsJson);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ArgumentException($"The options are not valid JSON: {e.Message}", nameof(optionsJson), e);
        }

        return node is JsonObject options
            ? new FlowArchitecture(name, options)
            : throw new ArgumentException("The options must be a JSON object.", nameof(optionsJson));
    }

    internal static FlowArchitecture Create(string builder, JsonObject options) => new(builder, options);

    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Builder} {Options}";
}
