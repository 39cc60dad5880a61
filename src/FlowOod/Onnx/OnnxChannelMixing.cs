using System;
using System.Linq;
using FlowOod.Onnx;
using static TorchSharp.torch;

// The ONNX export of FlowOod's per-channel bijectors: parameters baked as float32 constants computed by the same torch
// expressions as their ForwardCore, so the constants carry the same bits.
namespace FlowOod.Bijectors;

/// <content>ONNX export: y = (x + b) ⊙ exp(log s) per channel, LogDet = Σ log s · positions.</content>
public sealed partial class ActNorm : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        EnsureInitialized("the ONNX export");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] shape = [channels, .. Enumerable.Repeat(1L, input.EventShape.Count - 1)];
        var shifted = graph.Node("Add", [input.Name, graph.Constant("actnorm_bias", bias.reshape(shape))]);
        var output = graph.Node("Mul", [shifted, graph.Constant("actnorm_scale", log_scale.exp().reshape(shape))]);
        var positions = OnnxShapes.Positions(input);
        var logDet = log_scale.sum().Times(positions).ReadDouble();
        return new OnnxBijectorOutput(new OnnxValue(output, input.EventShape), graph.PerExample(logDet));
    }
}

/// <content>ONNX export: a 1×1 Conv (images) or MatMul with Wᵀ (vectors), LogDet = log|det W| · positions.</content>
public sealed partial class InvertibleConv1x1 : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logDet = LogAbsDet().Times(OnnxShapes.Positions(input)).ReadDouble();
        return new OnnxBijectorOutput(OnnxShapes.MixChannels(graph, input, weight), graph.PerExample(logDet));
    }
}

/// <content>ONNX export: W = P·L·U as one constant, a 1×1 Conv (images) or MatMul with Wᵀ (vectors), LogDet = Σ log|s| · positions.</content>
public sealed partial class LuInvertibleConv1x1 : IOnnxBuiltInBijector
{
    OnnxBijectorOutput IOnnxBuiltInBijector.ExportForward(OnnxGraphBuilder graph, OnnxValue input)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logDet = log_scale.sum().Times(OnnxShapes.Positions(input)).ReadDouble();
        return new OnnxBijectorOutput(OnnxShapes.MixChannels(graph, input, ComputeWeight()), graph.PerExample(logDet));
    }
}
