using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using FlowOod.Components;
using FlowOod.Scoring;
using TorchSharp;

namespace FlowOod.Persistence;

/// <summary>
/// Everything a model file names but cannot store, because it is code: component types (masks, st-networks,
/// bottlenecks, scale activations, builders' options, compressors, scorers), factories of hand-composed flows, compressor
/// instances, the feature extractor of a feature-space scorer or gate, and any other object your components need at load
/// time. An immutable value: every <c>With…</c> method returns a new catalog; pass the result as
/// <see cref="ModelLoadOptions.Catalog"/>.
/// </summary>
/// <remarks>
/// <see cref="BuiltIn"/> holds FlowOod's own components and no code of yours. A file that names something this catalog
/// does not hold fails to load with a message naming the one method to call.
/// </remarks>
/// <example>
/// <code>
/// var catalog = ModelCatalog.BuiltIn
///     .With&lt;StripeMask&gt;()                          // a component type of yours
///     .WithFlowFactory("my-flow", MyFlow.Create)        // a hand-composed flow (FlowArchitecture.Custom)
///     .WithFeatureExtractor(classifier.Features);       // a feature-space scorer's extractor
/// using var detector = ModelFile.LoadDetector(path, new ModelLoadOptions { Catalog = catalog });
/// </code>
/// </example>
public sealed class ModelCatalog
{
    private readonly ImmutableDictionary<string, Func<FlowArchitecture, long[], NormalizingFlow>> flowFactories;
    private readonly ImmutableList<ICompressor> compressors;
    private readonly ImmutableList<object> provided;

    private ModelCatalog(
        ComponentCatalog components,
        ImmutableDictionary<string, Func<FlowArchitecture, long[], NormalizingFlow>> flowFactories,
        ImmutableList<ICompressor> compressors,
        Func<torch.Tensor, torch.Tensor>? featureExtractor,
        torch.nn.Module<torch.Tensor, torch.Tensor>? featureExtractorModule,
        ImmutableList<object> provided)
    {
        Components = components;
        this.flowFactories = flowFactories;
        this.compressors = compressors;
        FeatureExtractor = featureExtractor;
        FeatureExtractorModule = featureExtractorModule;
        this.provided = provided;
    }

    /// <summary>FlowOod's own components (<see cref="ComponentCatalog.BuiltIn"/>), and no code of yours.</summary>
    public static ModelCatalog BuiltIn { get; } = new(
        ComponentCatalog.BuiltIn,
        ImmutableDictionary.Create<string, Func<FlowArchitecture, long[], NormalizingFlow>>(StringComparer.Ordinal),
        [],
        null,
        null,
        []);

    /// <summary>The component types this catalog reads (FlowOod's and those added with <see cref="With{T}"/>).</summary>
    public ComponentCatalog Components { get; }

    /// <summary>The feature extractor function given with <see cref="WithFeatureExtractor(Func{torch.Tensor, torch.Tensor})"/>, if any.</summary>
    internal Func<torch.Tensor, torch.Tensor>? FeatureExtractor { get; }

    /// <summary>The feature extractor module given with <see cref="WithFeatureExtractor(torch.nn.Module{torch.Tensor, torch.Tensor})"/>, if any.</summary>
    internal torch.nn.Module<torch.Tensor, torch.Tensor>? FeatureExtractorModule { get; }

    /// <summary>Whether a feature extractor (function or module) is registered.</summary>
    internal bool HasFeatureExtractor => FeatureExtractor is not null || FeatureExtractorModule is not null;

    /// <summary>A new catalog that also reads the component type <typeparamref name="T"/>, under its declared name in each of its kinds.</summary>
    /// <typeparam name="T">A type with a <see cref="ComponentNameAttribute"/> implementing a kind (an interface or base class marked <see cref="ComponentKindAttribute"/>).</typeparam>
    /// <returns>The extended catalog (this one when <typeparamref name="T"/> is already in it).</returns>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> has no name or no kind, or another type of the same kind has its name.</exception>
    public ModelCatalog With<T>()
        where T : IComponent<T>
    {
        var components = Components.With<T>();
        return ReferenceEquals(components, Components) ? this : Copy(components: components);
    }

    /// <summary>
    /// A new catalog with a factory for flows saved with <see cref="FlowArchitecture.Custom"/> under
    /// <paramref name="name"/>: it gets the stored architecture and event shape and returns a fresh flow (on the CPU) whose
    /// parameters the file then fills. Unlike the built-in builders, a custom factory's allocation cannot be checked
    /// against the file before it runs.
    /// </summary>
    /// <param name="name">The architecture's builder name, as given to <see cref="FlowArchitecture.Custom"/>.</param>
    /// <param name="factory">(architecture, event shape) → a new flow for that event shape.</param>
    /// <returns>The extended catalog.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty, or a factory is already registered under it.</exception>
    public ModelCatalog WithFlowFactory(string name, Func<FlowArchitecture, long[], NormalizingFlow> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (flowFactories.ContainsKey(name))
        {
            throw new ArgumentException($"The catalog already has a flow factory named \"{name}\"; names must be unique.", nameof(name));
        }

        return Copy(flowFactories: flowFactories.Add(name, factory));
    }

    /// <summary>
    /// A new catalog with a compressor instance for saved <see cref="InputComplexityScorer"/>s, matched by
    /// <see cref="ICompressor.Name"/> before the component types are asked (which hold FlowOod's PNG and Deflate, and
    /// read compressors that describe themselves as components). The compressor stays the caller's.
    /// </summary>
    /// <param name="compressor">The compressor.</param>
    /// <returns>The extended catalog.</returns>
    /// <exception cref="ArgumentException">A compressor with the same name is already registered.</exception>
    public ModelCatalog WithCompressor(ICompressor compressor)
    {
        ArgumentNullException.ThrowIfNull(compressor);
        if (compressors.Any(c => c.Name == compressor.Name))
        {
            throw new ArgumentException($"The catalog already has a compressor named \"{compressor.Name}\"; names must be unique.", nameof(compressor));
        }

        return Copy(compressors: compressors.Add(compressor));
    }

    /// <summary>
    /// A new catalog with the feature extractor of a saved <see cref="FeatureSpaceScorer"/> or of a gate fitted with a
    /// feature extractor function: input batch <c>[N, ...]</c> → features <c>[N, D]</c>, D as stored. It stays the caller's.
    /// </summary>
    /// <param name="extractor">The extractor.</param>
    /// <returns>The extended catalog.</returns>
    /// <exception cref="InvalidOperationException">The catalog already has a feature extractor (a file holds one at most).</exception>
    public ModelCatalog WithFeatureExtractor(Func<torch.Tensor, torch.Tensor> extractor)
    {
        ArgumentNullException.ThrowIfNull(extractor);
        EnsureNoFeatureExtractor();
        return Copy(featureExtractor: extractor);
    }

    /// <summary>
    /// A new catalog with a TorchSharp module as the feature extractor of a saved <see cref="FeatureSpaceScorer"/> (run
    /// in evaluation mode): input batch <c>[N, ...]</c> → features <c>[N, D]</c>, D as stored. It stays the caller's.
    /// </summary>
    /// <param name="extractor">The extractor module.</param>
    /// <returns>The extended catalog.</returns>
    /// <exception cref="InvalidOperationException">The catalog already has a feature extractor (a file holds one at most).</exception>
    public ModelCatalog WithFeatureExtractor(torch.nn.Module<torch.Tensor, torch.Tensor> extractor)
    {
        ArgumentNullException.ThrowIfNull(extractor);
        EnsureNoFeatureExtractor();
        return Copy(featureExtractorModule: extractor);
    }

    /// <summary>
    /// A new catalog with an object your own components need at load time (code a file cannot store, such as a delegate
    /// or a module), handed to their <c>Read</c> through <see cref="ComponentReader.Provided{T}"/> by type, after the
    /// feature extractor and the compressors.
    /// </summary>
    /// <param name="value">The object; it stays the caller's.</param>
    /// <returns>The extended catalog.</returns>
    public ModelCatalog WithProvided(object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Copy(provided: provided.Add(value));
    }

    /// <summary>The factory registered under <paramref name="name"/>, or null.</summary>
    internal Func<FlowArchitecture, long[], NormalizingFlow>? FlowFactory(string name) =>
        flowFactories.TryGetValue(name, out var factory) ? factory : null;

    /// <summary>
    /// The registered objects of type <typeparamref name="T"/>, in this order: feature extractor function, feature
    /// extractor module, compressors, provided objects.
    /// </summary>
    internal IReadOnlyList<T> Provided<T>()
        where T : class
    {
        var all = new List<object>();
        if (FeatureExtractor is { } extractor)
        {
            all.Add(extractor);
        }

        if (FeatureExtractorModule is { } module)
        {
            all.Add(module);
        }

        all.AddRange(compressors);
        all.AddRange(provided);
        return all.OfType<T>().ToArray();
    }

    private void EnsureNoFeatureExtractor()
    {
        if (HasFeatureExtractor)
        {
            throw new InvalidOperationException(
                "The catalog already has a feature extractor (a function or a module); register one only.");
        }
    }

    private ModelCatalog Copy(
        ComponentCatalog? components = null,
        ImmutableDictionary<string, Func<FlowArchitecture, long[], NormalizingFlow>>? flowFactories = null,
        ImmutableList<ICompressor>? compressors = null,
        Func<torch.Tensor, torch.Tensor>? featureExtractor = null,
        torch.nn.Module<torch.Tensor, torch.Tensor>? featureExtractorModule = null,
        ImmutableList<object>? provided = null) =>
        new(
            components ?? Components,
            flowFactories ?? this.flowFactories,
            compressors ?? this.compressors,
            featureExtractor ?? FeatureExtractor,
            featureExtractorModule ?? FeatureExtractorModule,
            provided ?? this.provided);
}
