using System;
using System.Linq;
using FlowOod.Components;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Models;

/// <summary>Deep copies of flows built from builder options: the same options, rebuilt, with the state copied in.</summary>
internal static class FlowCopy
{
    /// <summary>A new flow with <paramref name="flow"/>'s architecture, dtype, device and every parameter and buffer.</summary>
    /// <exception cref="NotSupportedException">The flow was not built from builder options (<see cref="IFlowBuilderOptions"/>).</exception>
    public static NormalizingFlow Of(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var architecture = flow.Architecture;
        if (architecture?.Component is not IFlowBuilderOptions options)
        {
            throw new NotSupportedException(
                "Only flows made by FlowOod's builders (RealNvp, SingleScaleRealNvp, Glow, TabularRealNvp) or by your own IFlowBuilderOptions component "
                + "can be copied; train a separate flow of your own architecture instead.");
        }

        var source = flow.state_dict();
        var device = source.Values.FirstOrDefault()?.device;
        var copy = BuildPreservingRandomState(() => options.Build(flow.EventShape.ToArray(), device));
        copy.to(FloatingDtype(flow));

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

    /// <summary>Runs a build (which initialises weights from torch's global generator) leaving that generator's state as it was.</summary>
    // Still a save/restore of global state, and racy with other threads drawing from the generator meanwhile. The clean
    // fix, building on meta and materialising empty tensors on the target device before copying the file in, is not
    // available in TorchSharp 0.107: it has no Module.to_empty, Tensor.set_ refuses to move a meta tensor to another
    // device's storage ("the devices must match"), and Module.to copies data out of meta, which libtorch rejects.
    // TorchSharp's own modules (Conv2d, Linear...) draw their initial weights from the global generator in their
    // constructors with no generator argument, so the build cannot be pointed at a private generator either.
    public static NormalizingFlow BuildPreservingRandomState(Func<NormalizingFlow> build)
    {
        using var state = random.get_rng_state();
        try
        {
            return build();
        }
        finally
        {
            random.set_rng_state(state);
        }
    }

    /// <summary>The dtype of the flow's first floating tensor (float32 for a flow without one).</summary>
    public static ScalarType FloatingDtype(NormalizingFlow flow) =>
        flow.state_dict().Values.Select(t => t.dtype).FirstOrDefault(d => d is ScalarType.Float32 or ScalarType.Float64, ScalarType.Float32);
}
