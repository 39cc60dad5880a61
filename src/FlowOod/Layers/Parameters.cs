using System;
using System.Reflection;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>Creates parameters without TorchSharp's live-tensor counting artifact.</summary>
/// <remarks>
/// <para><c>new Parameter(tensor)</c> in TorchSharp 0.107 takes the native handle out of <c>tensor</c> without
/// decrementing <c>torch.Tensor.TotalCount</c>: the emptied wrapper stays counted forever (its finalizer finds no handle),
/// so every parameter ever created leaves +1 on the count although no memory leaks. That made "the live count is back
/// to the baseline" untestable for anything that builds a flow. <see cref="Create"/> instead releases the wrapper's
/// claim with the public <c>DecoupleFromNativeHandle</c> (which decrements the count) and hands the handle to
/// <c>Parameter</c>'s handle constructor, so the count goes up by exactly one, and down again when the parameter is
/// disposed.</para>
/// <para>That constructor is internal to TorchSharp and reached by reflection, once. If a later TorchSharp drops it,
/// <see cref="Create"/> falls back to the public constructor: behaviour is identical, only the count drifts again.</para>
/// </remarks>
internal static class Parameters
{
    private static readonly ConstructorInfo? FromHandle = typeof(Parameter).GetConstructor(
        BindingFlags.Instance | BindingFlags.NonPublic, binder: null, [typeof(IntPtr)], modifiers: null);

    /// <summary>
    /// Wraps <paramref name="data"/> as a parameter that belongs to no dispose scope. <paramref name="data"/> is consumed:
    /// it is invalid afterwards and must not be used (disposing it is harmless).
    /// </summary>
    public static Parameter Create(Tensor data, bool requiresGrad = true)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (FromHandle is null)
        {
            var fallback = new Parameter(data, requiresGrad);
            fallback.DetachFromDisposeScope();
            return fallback;
        }

        data.requires_grad = requiresGrad;
        var parameter = (Parameter)FromHandle.Invoke([data.DecoupleFromNativeHandle()]);
        parameter.DetachFromDisposeScope();
        return parameter;
    }
}
