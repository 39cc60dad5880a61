using FlowOod.Components;

namespace FlowOod.Models;

/// <summary>
/// The options of a flow builder, as a component: the component's name is the builder's name in a model file
/// (<c>"RealNvp"</c>, ...), its fields are the options, and <see cref="Build"/> rebuilds the flow when the file is loaded.
/// A user's own builder options can implement it with <see cref="IComponent{TSelf}"/> and be registered with
/// <see cref="ComponentCatalog.With{T}"/>.
/// </summary>
[ComponentKind(FlowArchitecture.BuilderKind)]
public interface IFlowBuilderOptions
{
    /// <summary>Builds a fresh flow with these options for <paramref name="eventShape"/>, on the default device.</summary>
    /// <param name="eventShape">The event shape the flow models.</param>
    /// <returns>A new flow whose <see cref="NormalizingFlow.Architecture"/> describes these options.</returns>
    /// <exception cref="System.ArgumentException">The options do not build a flow for this shape.</exception>
    NormalizingFlow Build(long[] eventShape);
}
