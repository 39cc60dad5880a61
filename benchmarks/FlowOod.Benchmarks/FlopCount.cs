using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>One convolution or linear layer met in a forward pass: its shape at batch 1 and its FLOPs per example.</summary>
/// <param name="Shape">The convolution at batch 1 (a linear layer is a 1×1 convolution on a 1×1 map).</param>
/// <param name="Flops">2 · multiply-adds of one example's forward call.</param>
public sealed record LayerFlops(ConvShape Shape, double Flops);

/// <summary>
/// FLOPs of a flow counted from its architecture: a forward pass of one example with a hook on every module that has a
/// weight of its own (<c>weight</c> or the weight-normalised <c>weight_v</c>): a convolution [C_out, C_in, kh, kw]
/// costs 2·C_in·kh·kw per output entry, a linear layer [out, in] 2·in per output entry. These are the st-networks'
/// layers, where nearly all of a coupling flow's arithmetic is; element-wise work (activations, normalisation, the
/// coupling map) is not counted. Training costs three forward passes' worth (forward, input and weight gradients).
/// </summary>
public static class FlopCount
{
    /// <summary>Runs one forward pass of <paramref name="example"/> ([1, eventShape...]) and lists every counted layer call.</summary>
    /// <param name="flow">The flow (put in evaluation mode for the pass and left there).</param>
    /// <param name="example">One example, shape [1, eventShape...].</param>
    /// <returns>The layers, in call order.</returns>
    public static IReadOnlyList<LayerFlops> Layers(NormalizingFlow flow, Tensor example)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(example);
        if (example.shape[0] != 1)
        {
            throw new ArgumentException($"Count with one example, got a batch of {example.shape[0]}.", nameof(example));
        }

        var found = new List<LayerFlops>();
        var removers = new List<Action>();
        foreach (var module in flow.modules().OfType<nn.Module<Tensor, Tensor>>())
        {
            var weight = module.named_parameters(recurse: false)
                .Where(p => p.name is "weight" or "weight_v" && p.parameter.dim() is 2 or 4)
                .Select(p => p.parameter.shape)
                .FirstOrDefault();
            if (weight is null)
            {
                continue;
            }

            var transposed = module.GetType().Name.Contains("Transpose", StringComparison.Ordinal);
            var remover = module.register_forward_hook((_, input, output) =>
            {
                found.Add(Count(weight, transposed, input.shape, output.shape));
                return output;
            });
            removers.Add(remover.remove);
        }

        try
        {
            flow.eval();
            using var inference = inference_mode();
            using var scope = NewDisposeScope();
            flow.LogProb(example);
        }
        finally
        {
            foreach (var remover in removers)
            {
                remover();
            }
        }

        return found;
    }

    /// <summary>Total FLOPs per example of one forward pass (the sum of <see cref="Layers"/>).</summary>
    public static double ForwardPerExample(IReadOnlyList<LayerFlops> layers) => layers?.Sum(l => l.Flops) ?? throw new ArgumentNullException(nameof(layers));

    private static LayerFlops Count(long[] weight, bool transposed, long[] input, long[] output)
    {
        if (weight.Length == 2)
        {
            // Linear [out, in] on [..., in]: every output entry is one dot product of length in.
            var outputs = output.Skip(1).Aggregate(1L, (a, b) => a * b);
            return new LayerFlops(new ConvShape(1, weight[1], weight[0], 1, 1, 1), 2.0 * weight[1] * outputs);
        }

        if (transposed)
        {
            // ConvTranspose [C_in, C_out, kh, kw]: every input entry scatters into C_out·kh·kw outputs.
            var inputs = input.Skip(1).Aggregate(1L, (a, b) => a * b);
            return new LayerFlops(new ConvShape(1, weight[0], weight[1], input[2], input[3], weight[2]), 2.0 * inputs * weight[1] * weight[2] * weight[3]);
        }

        var outputEntries = output.Skip(1).Aggregate(1L, (a, b) => a * b);
        return new LayerFlops(new ConvShape(1, weight[1], weight[0], output[2], output[3], weight[2]), 2.0 * outputEntries * weight[1] * weight[2] * weight[3]);
    }
}
