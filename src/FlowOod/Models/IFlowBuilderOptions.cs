using FlowOod.Components;

namespace FlowOod.Models;

/// <summary>
/// The options of a flow builder, as a component: the component's name is the builder's name in a model file
/// (<c>"RealNvp"</c>, ...), its fields are the options, and <see cref="Build"/> rebuilds the flow when the file is loaded.
/// A user's own builder options can implement it with <see cref="IComponent{TSelf}"/> and be registered with
/// <c>ModelCatalog.With&lt;T&gt;()</c> at load time.
/// </summary>
[ComponentKind(FlowArchitecture.BuilderKind)]
public interface IFlowBuilderOptions
{
    /// <summary>Builds a fresh flow with these options for <paramref name="eventShape"/> on <paramref name="device"/>.</summary>
    /// <param name="eventShape">The event shape the flow models.</param>
    /// <param name="device">The device to create every parameter and buffer on (null: the CPU). Model loading builds
    /// on the <c>meta</c> device first to check the file's tensor shapes without allocating memory, so create every
    /// tensor and module with this explicit device and never rely on torch's default device.</param>
    /// <returns>A new flow whose <see cref="NormalizingFlow.Architecture"/> describes these options.</returns>
    /// <exception cref="System.ArgumentException">The options do not build a flow for this shape.</exception>
    NormalizingFlow Build(long[] eventShape, TorchSharp.torch.Device? device = null);
}
