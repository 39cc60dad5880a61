using System;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>Builds RealNVP flows for feature vectors (tabular data, embeddings), as Kirichenko et al. (2020), App. K and Sec. 8.</summary>
/// <remarks>
/// <para>Structure: <see cref="TabularRealNvpOptions.Couplings"/> affine couplings on events <c>[D]</c>, each with a
/// <see cref="ChannelMask"/> (even layers transform the first ⌊D/2⌋ features conditioned on the rest, odd layers the
/// reverse) and an MLP st-network (<see cref="MlpConditionerFactory"/>) that sees only the conditioning features.
/// Base distribution: standard normal on <c>[D]</c>.</para>
/// <para>No dequantization, logit or discretization: the flow models continuous data, accepts any finite values
/// (no input range) and reports bits/dim as −log p(x)/(D·ln 2). Features are not standardised here; the reference
/// standardises every feature with the in-distribution training mean and standard deviation first.</para>
/// </remarks>
public static class TabularRealNvp
{
    /// <summary>Creates a tabular RealNVP flow for vectors of <paramref name="features"/> entries.</summary>
    /// <param name="features">D, entries per example, ≥ 2.</param>
    /// <param name="options">Hyper-parameters (default: <c>new TabularRealNvpOptions()</c>).</param>
    /// <param name="device">The device every parameter and buffer is created on (default CPU); nothing is allocated elsewhere first.</param>
    /// <returns>A flow on events <c>[D]</c> with no input range and no discretization levels.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is below 2, or an option is out of range.</exception>
    public static NormalizingFlow Create(long features, TabularRealNvpOptions? options = null, torch.Device? device = null)
    {
        options ??= new TabularRealNvpOptions();
        options.Validate();
        if (features < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(features), features, $"A coupling flow needs at least 2 features, got {features}.");
        }

        var shape = new[] { features };
        var conditioner = new MlpConditionerFactory(options.HiddenWidth, options.HiddenLayers, options.Dropout);
        var couplings = new Bijector[options.Couplings];
        for (int i = 0; i < couplings.Length; i++)
        {
            couplings[i] = new AffineCoupling(shape, ChannelMask.Instance, i, conditioner, device: device);
        }

        return new NormalizingFlow(new Chain(couplings), shape) { Architecture = FlowArchitecture.Of(options) };
    }
}
