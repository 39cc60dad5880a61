using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>A fully connected st-network for vector events: maps <c>[N, Din]</c> to <c>[N, Dout]</c>.</summary>
/// <remarks>
/// <para>Layout: <c>hidden</c> = <c>hiddenLayers</c> × (Linear → ReLU → dropout), the first Din → hiddenWidth and the
/// rest hiddenWidth → hiddenWidth; then <c>out_linear</c> = Linear to Dout (from Din when there is no hidden layer).
/// <c>out_linear</c> starts at zero, so a fresh coupling layer is the identity; the hidden layers use PyTorch's default
/// initialisation. Dropout (probability <c>dropout</c>, reference option 0.5) is active only in training mode.</para>
/// <para>Parameters: with hiddenLayers = k ≥ 1 and width w, (Din + 1)·w + (k − 1)·(w + 1)·w + (w + 1)·Dout.</para>
/// </remarks>
internal sealed partial class MlpConditioner : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LinearLayer> hidden;
    private readonly LinearLayer out_linear;
    private readonly long inputFeatures;
    private readonly double dropout;

    /// <summary>Creates the network.</summary>
    /// <param name="inputFeatures">Din.</param>
    /// <param name="outputFeatures">Dout (twice the transformed features of the coupling layer).</param>
    /// <param name="hiddenWidth">Units of every hidden layer.</param>
    /// <param name="hiddenLayers">Hidden layers (Linear → ReLU), ≥ 0.</param>
    /// <param name="dropout">Dropout probability after every hidden ReLU, in [0, 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, <paramref name="hiddenLayers"/> is negative or
    /// <paramref name="dropout"/> is outside [0, 1).</exception>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public MlpConditioner(long inputFeatures, long outputFeatures, long hiddenWidth, int hiddenLayers, double dropout = 0.0, Device? device = null)
        : base(nameof(MlpConditioner))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenWidth);
        ArgumentOutOfRangeException.ThrowIfNegative(hiddenLayers);
        MlpConditionerFactory.CheckDropout(dropout, nameof(dropout));
        this.inputFeatures = inputFeatures;
        this.dropout = dropout;
        var list = new LinearLayer[hiddenLayers];
        for (int i = 0; i < hiddenLayers; i++)
        {
            list[i] = new LinearLayer(i == 0 ? inputFeatures : hiddenWidth, hiddenWidth, device: device);
        }

        hidden = new ModuleList<LinearLayer>(list);
        out_linear = new LinearLayer(hiddenLayers == 0 ? inputFeatures : hiddenWidth, outputFeatures, device: device);
        ZeroInit.Zeroed(out_linear);

        RegisterComponents();
    }

    /// <summary>The linear layers in order, the output layer last (each hidden one is followed by ReLU, then dropout in training).</summary>
    internal IEnumerable<LinearLayer> Layers => hidden.Append(out_linear);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException"><paramref name="input"/> is not <c>[N, Din]</c>.</exception>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 2 || input.size(1) != inputFeatures)
        {
            throw new ArgumentException($"The MLP st-network expects [N, {inputFeatures}], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        using var scope = NewDisposeScope();
        var x = input;
        foreach (var layer in hidden)
        {
            x = layer.call(x).relu_();
            if (dropout > 0)
            {
                x = nn.functional.dropout(x, dropout, training);
            }
        }

        return scope.MoveToOuter(out_linear.call(x));
    }
}
