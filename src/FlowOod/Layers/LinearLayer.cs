using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// y = x·Wᵀ + b: FlowOod's replacement for TorchSharp's <c>Linear</c>, with the same state-dict keys (<c>weight</c>
/// <c>[out, in]</c>, <c>bias</c> <c>[out]</c>) and the same kernel (<c>nn.functional.linear</c>).
/// </summary>
/// <remarks>
/// Initialised like TorchSharp's module (kaiming-uniform weight, uniform bias, fan-in = in) unless built inside
/// <see cref="ParameterInitialization.Skip"/>; see <see cref="Conv2dLayer"/>.
/// </remarks>
internal sealed partial class LinearLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    /// <summary>Creates the layer.</summary>
    /// <param name="inputFeatures">in.</param>
    /// <param name="outputFeatures">out.</param>
    /// <param name="hasBias">Whether to add a bias.</param>
    /// <param name="device">Where to create the parameters (null: CPU).</param>
    public LinearLayer(long inputFeatures, long outputFeatures, bool hasBias = true, Device? device = null)
        : base("Linear")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputFeatures);
        weight = ParameterInitialization.Allocate([outputFeatures, inputFeatures], device);
        bias = hasBias ? ParameterInitialization.Allocate([outputFeatures], device) : null;
        ParameterInitialization.DefaultLayerInit(weight, bias, inputFeatures);
        RegisterComponents();
    }

    /// <summary>W <c>[out, in]</c>, the parameter itself (read it, do not dispose it).</summary>
    internal Tensor Weight => weight;

    /// <summary>b <c>[out]</c>, the parameter itself, or null.</summary>
    internal Tensor? Bias => bias;

    /// <inheritdoc/>
    /// <remarks>A bf16 input with fp32 parameters computes with bf16 copies of them (<see cref="LowPrecision"/>).</remarks>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!LowPrecision.NeedsCast(weight, input))
        {
            return nn.functional.linear(input, weight, bias);
        }

        using var scope = NewDisposeScope();
        return scope.MoveToOuter(nn.functional.linear(input, LowPrecision.Match(weight, input), LowPrecision.Match(bias, input)));
    }
}
