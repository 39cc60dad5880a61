using FlowOod.Bijectors;
using static TorchSharp.torch;

namespace FlowOod.Onnx;

/// <summary>
/// A bijector of your own that <see cref="OnnxExport"/> can write to ONNX: it emits the nodes of its forward pass
/// (data → latent) and of its log-determinant. FlowOod's built-in bijectors export without it.
/// </summary>
/// <remarks>
/// Emit the same maths as <see cref="Bijector.Forward"/> in evaluation mode, in float32. Parameters become constants
/// (<see cref="OnnxGraphBuilder.Constant(string, Tensor)"/>); built-in parts (a st-network, another bijector) export
/// through <see cref="OnnxGraphBuilder.Module"/> and <see cref="OnnxGraphBuilder.Bijector"/>.
/// </remarks>
public interface IOnnxExportable
{
    /// <summary>Adds the nodes of the forward pass to <paramref name="graph"/>.</summary>
    /// <param name="graph">The graph being built.</param>
    /// <param name="input">The step's input, <c>[N, eventShape...]</c> float32.</param>
    /// <returns>The output and the per-example log-determinant <c>[N]</c> (null when it is zero).</returns>
    OnnxBijectorOutput ExportForward(OnnxGraphBuilder graph, OnnxValue input);
}

/// <summary>
/// A module of your own inside a flow (an st-network made by your <c>IConditionerFactory</c>, a layer made by your
/// <c>IBottleneck</c>) that <see cref="OnnxExport"/> can write to ONNX. FlowOod's built-in modules export without it.
/// </summary>
public interface IOnnxExportableModule
{
    /// <summary>Adds the nodes of the module's evaluation-mode forward pass to <paramref name="graph"/>.</summary>
    /// <param name="graph">The graph being built.</param>
    /// <param name="input">The module's input, <c>[N, shape...]</c> float32.</param>
    /// <returns>The module's output.</returns>
    OnnxValue ExportModule(OnnxGraphBuilder graph, OnnxValue input);
}

/// <summary>A <see cref="ScaleActivation"/> of your own that <see cref="OnnxExport"/> can write to ONNX (the presets export without it).</summary>
public interface IOnnxExportableScaleActivation
{
    /// <summary>Adds the nodes of s = a(ŝ) (see <see cref="ScaleActivation.LogScale"/>).</summary>
    /// <param name="graph">The graph being built.</param>
    /// <param name="raw">ŝ, <c>[N, Ct, spatial...]</c>.</param>
    /// <param name="learnableScale">The coupling's σ (<c>[Ct, 1, ...]</c>) as a constant when
    /// <see cref="ScaleActivation.UsesLearnableScale"/>, otherwise null.</param>
    /// <returns>The name of s, shaped like ŝ.</returns>
    string ExportLogScale(OnnxGraphBuilder graph, OnnxValue raw, string? learnableScale);
}

/// <summary>The export of FlowOod's public bijectors (an internal interface: it adds nothing to their public API).</summary>
internal interface IOnnxBuiltInBijector
{
    OnnxBijectorOutput ExportForward(OnnxGraphBuilder graph, OnnxValue input);
}
