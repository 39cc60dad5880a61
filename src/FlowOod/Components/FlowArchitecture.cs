using System;
using System.Text.Json.Nodes;

namespace FlowOod.Components;

/// <summary>
/// What a model file stores to rebuild a flow before loading its weights: the builder's name and its options as a JSON
/// object. FlowOod's builders (<c>RealNvp</c>, <c>SingleScaleRealNvp</c>, <c>AutoregressiveFlow</c>, <c>Glow</c>, <c>TabularRealNvp</c>) set
/// <c>NormalizingFlow.Architecture</c> themselves with <see cref="Of"/> (their options are components named after the
/// builder); a flow composed by hand gets one with <see cref="Custom"/> and is rebuilt at load time by a factory
/// registered with <c>ModelCatalog.WithFlowFactory</c> in <c>ModelLoadOptions.Catalog</c>.
/// </summary>
public sealed class FlowArchitecture
{
    private FlowArchitecture(string builder, JsonObject options, IComponent? component)
    {
        Builder = builder;
        Options = options.ToJsonString();
        Component = component;

        // Kept as parsed text, the form a file gives, so values read back the same whether the object came from a
        // builder (typed .NET values) or from a file (JSON elements).
        OptionsNode = (JsonObject)JsonNode.Parse(Options)!;
    }

    /// <summary>The builder's name, e.g. <c>"RealNvp"</c>, or the name of a custom factory.</summary>
    public string Builder { get; }

    /// <summary>The builder's options as JSON object text.</summary>
    public string Options { get; }

    internal JsonObject OptionsNode { get; }

    /// <summary>The options component this description was written from or read into; null for <see cref="Custom"/>.</summary>
    internal IComponent? Component { get; }

    /// <summary>
    /// Describes a flow by the options component that builds it: the builder name is the component's
    /// <see cref="ComponentNameAttribute"/> name, the options its fields. Null when an option holds a custom component
    /// that does not describe itself (e.g. a <c>CustomMask</c>).
    /// </summary>
    /// <param name="options">The builder's options, e.g. a <c>RealNvpOptions</c>.</param>
    /// <returns>The description, or null.</returns>
    public static FlowArchitecture? Of(IComponent options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            return new FlowArchitecture(ComponentWriter.NameOf(options.GetType()), ComponentWriter.FieldsOf(options), options);
        }
        catch (ComponentWriter.NotDescribableException)
        {
            return null;
        }
    }

    /// <summary>Describes a flow built by your own code, rebuilt at load time by the factory registered under <paramref name="name"/>.</summary>
    /// <param name="name">The factory's name (1–64 characters of letters, digits, '.', '-', '_'); not one of FlowOod's builders.</param>
    /// <param name="optionsJson">Your factory's options as a JSON object (default <c>{}</c>).</param>
    /// <returns>The description.</returns>
    /// <exception cref="ArgumentException">The name is invalid or reserved, or the options are not a JSON object.</exception>
    public static FlowArchitecture Custom(string name, string optionsJson = "{}")
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(optionsJson);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"Custom architecture names are 1-64 letters, digits, '.', '-' or '_'; got \"{name}\".", nameof(name));
        }

        if (ComponentCatalog.BuiltIn.ContainsInKind(BuilderKind, name))
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
            ? new FlowArchitecture(name, options, component: null)
            : throw new ArgumentException("The options must be a JSON object.", nameof(optionsJson));
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Builder} {Options}";

    /// <summary>The <see cref="ComponentKindAttribute"/> name of builders' options.</summary>
    internal const string BuilderKind = "builder";

    internal static FlowArchitecture Create(string builder, JsonObject options, IComponent? component) => new(builder, options, component);

    internal static bool IsValidName(string name) => ComponentNameAttribute.IsValidName(name);
}
