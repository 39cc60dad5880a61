using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Persistence;

/// <summary>Deep copies of flows built by FlowOod's builders: the same architecture, rebuilt, with the state copied in.</summary>
internal static class FlowCopy
{
    /// <summary>A new flow with <paramref name="flow"/>'s architecture, dtype, device and every parameter and buffer.</summary>
    /// <exception cref="NotSupportedException">The flow has no built-in architecture description.</exception>
    public static NormalizingFlow Of(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var architecture = flow.Architecture;
        if (architecture is null || !ArchitectureCodec.IsBuiltIn(architecture.Builder))
        {
            throw new NotSupportedException(
                "Only flows made by FlowOod's builders (RealNvp, SingleScaleRealNvp, Glow, TabularRealNvp) can be copied; "
                + "train a separate flow of your own architecture instead.");
        }

        var copy = ModelFileReader.BuildPreservingRandomState(() => ArchitectureCodec.Build(architecture, flow.EventShape.ToArray(), "architecture"));
        var source = flow.state_dict();
        copy.to(TensorCodec.FloatingDtype(flow));
        if (source.Values.FirstOrDefault() is { } first)
        {
            copy.to(first.device);
        }

        using (no_grad())
        {
            foreach (var (name, target) in copy.state_dict())
            {
                target.copy_(source[name]);
            }
        }

        copy.Architecture = architecture;
        copy.train(flow.training);
        return copy;
    }
}
