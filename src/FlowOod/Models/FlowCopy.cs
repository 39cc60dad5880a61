using System;
using System.Linq;
using FlowOod.Components;
using FlowOod.Layers;
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
                "Only flows made by FlowOod's builders (RealNvp, SingleScaleRealNvp, AutoregressiveFlow, Glow, TabularRealNvp) or by your own IFlowBuilderOptions component "
                + "can be copied; train a separate flow of your own architecture instead.");
        }

        var source = flow.state_dict();
        var device = source.Values.FirstOrDefault()?.device;
        var copy = BuildForStateCopy(options, () => options.Build(flow.EventShape.ToArray(), device));
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

    /// <summary>
    /// Builds a flow whose every parameter and buffer the caller overwrites right after (a copy, a loaded file), without
    /// reading or advancing torch's global generator whenever that can be guaranteed.
    /// </summary>
    /// <param name="settings">The builder options (or other component) the build runs the code of, or null when the build
    /// runs code that no component describes (a user's flow factory).</param>
    /// <param name="build">The build.</param>
    /// <remarks>
    /// <para>The build runs inside <see cref="ParameterInitialization.Skip"/>: FlowOod's layers and bijectors then only
    /// allocate (no kaiming/normal/orthogonal draws), so a build from FlowOod's own components — every type in
    /// <paramref name="settings"/>' component tree defined in this assembly — touches no process-wide state at all.</para>
    /// <para>Fallback: a tree with any other type (a user's mask, st-network, bottleneck or builder options), or no tree,
    /// may run user code that draws from the global generator in its constructors (TorchSharp's <c>nn.Conv2d</c> and
    /// <c>nn.Linear</c> do, with no generator argument). For those builds the generator's state is saved and restored
    /// around the build, which keeps a single-threaded program's random stream as it was but is still a write of
    /// process-wide state: another thread drawing during the build has its draws rewound. It cannot be avoided without
    /// materialising a meta-device build, which TorchSharp 0.107 cannot do (no <c>Module.to_empty</c>; <c>Tensor.set_</c>
    /// refuses to move meta storage to another device; <c>Module.to</c> copies data out of meta, which libtorch rejects).
    /// A user component that builds with FlowOod's layers or bijectors only draws nothing either way.</para>
    /// </remarks>
    public static NormalizingFlow BuildForStateCopy(object? settings, Func<NormalizingFlow> build)
    {
        ArgumentNullException.ThrowIfNull(build);
        using var skip = ParameterInitialization.Skip();
        return settings is not null && IsBuiltIn(settings) ? build() : BuildPreservingRandomState(build);
    }

    /// <summary>Whether every component type in <paramref name="settings"/>' tree is one of FlowOod's own.</summary>
    internal static bool IsBuiltIn(object settings) =>
        ComponentWriter.TypesIn(settings) is { } types && types.All(t => t.Assembly == typeof(FlowCopy).Assembly);

    /// <summary>Runs a build leaving the global generator's state as it was (the fallback of <see cref="BuildForStateCopy"/>).</summary>
    private static NormalizingFlow BuildPreservingRandomState(Func<NormalizingFlow> build)
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
