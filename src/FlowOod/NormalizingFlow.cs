using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Components;
using FlowOod.Distributions;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod;

/// <summary>
/// A normalizing flow: a bijector from data to latent (<see cref="Transform"/>) and a base distribution on the latent.
/// </summary>
/// <remarks>
/// <para>log p(x) = log p_Z(f(x)) + log|det ∂f/∂x|, with f = <see cref="Transform"/>.Forward (data → latent) including
/// any preprocessing layers (dequantization, logit) so their log-determinants are part of the density. Inputs are
/// <c>[N, eventShape...]</c>; <see cref="LogProb(Tensor)"/> and <see cref="BitsPerDim(Tensor)"/> return <c>[N]</c>.</para>
/// <para>Inputs are validated before any work: shape, floating dtype (the parameters' dtype, if any), finiteness and, when
/// <see cref="InputRange"/> is set, the value range. Bad input throws an <see cref="ArgumentException"/> that names
/// the problem; it never produces a NaN density.</para>
/// </remarks>
public sealed class NormalizingFlow : nn.Module<Tensor, Tensor>
{
    private readonly Bijector transform;
    private readonly long[] eventShape;

    /// <summary>Creates a flow.</summary>
    /// <param name="transform">The data → latent bijector; must preserve the event shape.</param>
    /// <param name="eventShape">Shape of one example, e.g. <c>[1, 28, 28]</c>.</param>
    /// <param name="baseDistribution">The latent distribution (default <see cref="StandardNormal"/>).</param>
    /// <param name="inputRange">The valid range of input values (e.g. [0, 1] for images), or null for any finite value.</param>
    /// <param name="discretizationLevels">Levels per entry of the raw data (256 for 8-bit images), or null for continuous data.</param>
    /// <exception cref="ArgumentException">The event shape or input range is invalid, or the transform holds a
    /// <see cref="UniformDequantization"/> that is not its first step (the transform itself, or the first step of a
    /// <see cref="Chain"/>): dequantization noise is an argument of that step alone.</exception>
    public NormalizingFlow(
        Bijector transform,
        long[] eventShape,
        IBaseDistribution? baseDistribution = null,
        (double Min, double Max)? inputRange = null,
        int? discretizationLevels = null)
        : base(nameof(NormalizingFlow))
    {
        ArgumentNullException.ThrowIfNull(transform);
        this.eventShape = Shapes.CheckEventShape(eventShape, nameof(eventShape));
        if (inputRange is { } range && !(range.Min < range.Max))
        {
            throw new ArgumentException($"Input range [{range.Min}, {range.Max}] is empty.", nameof(inputRange));
        }

        if (discretizationLevels is < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(discretizationLevels), discretizationLevels, "Discretization needs at least 2 levels.");
        }

        Dequantization = BijectorNoise.CheckDequantization(transform, nameof(transform));
        this.transform = transform;
        BaseDistribution = baseDistribution ?? StandardNormal.Instance;
        InputRange = inputRange;
        DiscretizationLevels = discretizationLevels;
        Dimensions = Shapes.Product(this.eventShape);
        RegisterComponents();
    }

    /// <summary>The data → latent bijector.</summary>
    public Bijector Transform => transform;

    /// <summary>The latent distribution.</summary>
    public IBaseDistribution BaseDistribution { get; }

    /// <summary>Shape of one example.</summary>
    public IReadOnlyList<long> EventShape => eventShape;

    /// <summary>D, entries per example.</summary>
    public long Dimensions { get; }

    /// <summary>The valid input range, or null when any finite value is accepted.</summary>
    public (double Min, double Max)? InputRange { get; }

    /// <summary>Levels per entry of the raw data (256 for 8-bit images), used by <see cref="BitsPerDim(Tensor)"/>; null for continuous data.</summary>
    public int? DiscretizationLevels { get; }

    /// <summary>
    /// How a model file (<c>ModelFile</c>) rebuilds this flow: set by the builders when every option describes itself
    /// (<see cref="IComponent"/>: FlowOod's components and yours), null for a flow composed by hand until you set
    /// <see cref="FlowArchitecture.Custom"/>.
    /// </summary>
    public FlowArchitecture? Architecture { get; set; }

    /// <summary>The leading dequantization step, which receives the noise of a call, or null.</summary>
    internal UniformDequantization? Dequantization { get; }

    /// <summary>log p(x) in nats per example, with the dequantization layer's own noise setting.</summary>
    /// <param name="input">x, shape <c>[N, eventShape...]</c>, float32 or float64.</param>
    /// <returns>A new tensor <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">Wrong shape, dtype or device, NaN/Inf, or values outside <see cref="InputRange"/>.</exception>
    public Tensor LogProb(Tensor input)
    {
        ValidateInput(input);
        return LogProbUnchecked(input);
    }

    /// <summary>log p(x) in nats per example, with the dequantization noise <paramref name="noise"/> for this call only.</summary>
    /// <remarks>
    /// The noise is an argument of the call, given explicitly to the flow's dequantization step (its first step; see
    /// <see cref="BijectorNoise"/>), not state of the flow or of the thread: calls with different noise may run on
    /// different threads at once and never see each other's. The flow's mode (train/eval) is used as it is; scorers put
    /// their flows in evaluation mode once, when they are built.
    /// </remarks>
    /// <param name="input">x, shape <c>[N, eventShape...]</c>, float32 or float64.</param>
    /// <param name="noise">The dequantization noise u (see <see cref="ScoringNoise"/>); ignored by flows without dequantization.</param>
    /// <returns>A new tensor <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">Wrong shape, dtype or device, NaN/Inf, or values outside <see cref="InputRange"/>.</exception>
    public Tensor LogProb(Tensor input, ScoringNoise noise)
    {
        ArgumentNullException.ThrowIfNull(noise);
        ValidateInput(input);
        using var source = noise.Open();
        return LogProbUnchecked(input, source);
    }

    /// <summary>
    /// log p(x) without input validation, for callers that validated the whole data set already, with
    /// <paramref name="noise"/> given to the dequantization step (null: the layer's own setting).
    /// </summary>
    internal Tensor LogProbUnchecked(Tensor input, NoiseSource? noise = null)
    {
        IntraOpThreads.Adopt();
        using var scope = NewDisposeScope();
        var (latent, logDet) = ForwardUnchecked(input, noise);
        return scope.MoveToOuter(BaseDistribution.LogProb(latent).PlusInPlace(logDet));
    }

    /// <summary>
    /// The latent z = f(x) and log|det ∂f/∂x| without input validation, with <paramref name="noise"/> given to the
    /// dequantization step (null: the layer's own setting); new tensors.
    /// </summary>
    internal (Tensor Latent, Tensor LogDet) ForwardUnchecked(Tensor input, NoiseSource? noise) =>
        Dequantization is null ? transform.Forward(input) : BijectorNoise.Forward(transform, input, noise);

    /// <summary>
    /// Bits per dimension, −(log p(x) − D·log k)/(D·ln 2) with k = <see cref="DiscretizationLevels"/>
    /// (see <see cref="Discretization"/>); for continuous data (no levels) −log p(x)/(D·ln 2).
    /// </summary>
    /// <returns>A new tensor <c>[N]</c>.</returns>
    public Tensor BitsPerDim(Tensor input)
    {
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(ToBitsPerDim(LogProb(input)));
    }

    /// <summary><see cref="BitsPerDim(Tensor)"/> with the dequantization noise <paramref name="noise"/> for this call only.</summary>
    /// <returns>A new tensor <c>[N]</c>.</returns>
    public Tensor BitsPerDim(Tensor input, ScoringNoise noise)
    {
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(ToBitsPerDim(LogProb(input, noise)));
    }

    /// <summary>Per-example log-densities (nats, <c>[N]</c>) to bits/dim, the one conversion of <see cref="BitsPerDim(Tensor)"/>.</summary>
    internal Tensor ToBitsPerDim(Tensor logProb) => DiscretizationLevels is { } levels
        ? Discretization.BitsPerDim(logProb, Dimensions, levels)
        : logProb.DividedBy(-Dimensions * Math.Log(2));

    /// <summary>The same conversion for one log-density in nats.</summary>
    internal double ToBitsPerDim(double logProb) => DiscretizationLevels is { } levels
        ? Discretization.BitsPerDim(logProb, Dimensions, levels)
        : -logProb / (Dimensions * Math.Log(2));

    /// <summary>Whether the flow and every module inside it are in evaluation mode (<c>eval()</c>).</summary>
    /// <remarks>Reads the modes on every call, from a list of the flow's modules made at the first call (a flow's modules
    /// are registered when it is built): a few microseconds, where walking the tree through <c>modules()</c> takes about
    /// 1 µs a module.</remarks>
    public bool IsInEvaluationMode => ModuleModes.AreEvaluating(this);

    /// <summary>Draws <paramref name="count"/> samples: z from the base distribution, then x = Transform.Inverse(z).</summary>
    /// <remarks>Runs without gradients in evaluation mode, which the flow must be in (call <c>eval()</c> first): the
    /// flow's modes are never toggled to answer a query, so sampling may run on several threads at once.</remarks>
    /// <param name="count">How many samples.</param>
    /// <param name="generator">The random source for z, or null for TorchSharp's global generator.</param>
    /// <returns>A new tensor <c>[count, eventShape...]</c> on the flow's device.</returns>
    /// <exception cref="InvalidOperationException">The flow, or a module inside it, is in training mode.</exception>
    public Tensor Sample(long count, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (!IsInEvaluationMode)
        {
            throw new InvalidOperationException(
                "Sample needs the flow in evaluation mode (BatchNorm layers would otherwise use and update batch statistics); call flow.eval() first.");
        }

        IntraOpThreads.Adopt();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (dtype, device) = ParameterDtypeAndDevice();
        var latent = BaseDistribution.Sample(count, eventShape, dtype, device, generator);
        var (output, _) = transform.Inverse(latent);
        return scope.MoveToOuter(output);
    }

    /// <summary>TorchSharp's module entry point; the same as <see cref="LogProb(Tensor)"/>.</summary>
    public override Tensor forward(Tensor input) => LogProb(input);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the problem if <paramref name="input"/> is not a valid batch.</summary>
    /// <remarks>Reads the batch's values once (its minimum and maximum in one transfer: one host sync per batch); a
    /// batch on the meta device, which has no values, is rejected.</remarks>
    public void ValidateInput(Tensor input) => ValidateInput(input, nameof(input));

    /// <summary>
    /// <see cref="ValidateInput(Tensor)"/> for a batch passed to a public method as <paramref name="parameterName"/>: the
    /// exceptions name that parameter.
    /// </summary>
    internal void ValidateInput(Tensor input, string parameterName)
    {
        var (min, max) = ValidateInputValues(input, parameterName);
        CheckInputRange(min, max, parameterName);
    }

    /// <summary>
    /// <see cref="ValidateInput(Tensor)"/> for a batch going to this flow and to <paramref name="other"/> (e.g. a likelihood
    /// ratio's two flows): both flows' checks with the batch's values read once.
    /// </summary>
    internal void ValidateInputForBoth(Tensor input, NormalizingFlow other, string parameterName)
    {
        var (min, max) = ValidateInputValues(input, parameterName);
        CheckInputRange(min, max, parameterName);
        other.ValidateInputStructure(input, parameterName);
        other.CheckInputRange(min, max, parameterName);
    }

    // Shape, dtype, emptiness, device, then the one host sync: the batch's (min, max), both NaN if it holds a NaN.
    internal (double Min, double Max) ValidateInputValues(Tensor input, string parameterName)
    {
        ValidateInputStructure(input, parameterName);
        var (min, max) = InputChecks.MinMaxOnHost(input);
        if (double.IsNaN(min) || double.IsNaN(max) || double.IsInfinity(min) || double.IsInfinity(max))
        {
            throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
        }

        return (min, max);
    }

    internal void ValidateInputStructure(Tensor input, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(input, parameterName);
        IntraOpThreads.Adopt();
        if (!Shapes.EventMatches(input.Sizes(), eventShape))
        {
            throw new ArgumentException(
                $"Expected a batch of shape [N, {string.Join(", ", eventShape)}], got {Shapes.Format(input.Sizes())}.", parameterName);
        }

        // One check, one message: the dtype this flow computes in (that of its parameters outside 16-bit st-networks),
        // or float32 or float64 for a flow without such parameters.
        var parameter = parameters().FirstOrDefault(p => !LowPrecision.IsLow(p.dtype));
        if (parameter is not null ? input.dtype != parameter.dtype : input.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            var accepted = parameter is not null ? $"{parameter.dtype} batches (the dtype of its parameters)" : "Float32 or Float64 batches";
            throw new ArgumentException(
                $"This flow accepts {accepted}, got {input.dtype}; convert the batch with .to_type(ScalarType.{parameter?.dtype ?? ScalarType.Float32}) "
                + "(or the flow with .to(...)).",
                parameterName);
        }

        if (input.size(0) == 0)
        {
            throw new ArgumentException("The batch is empty.", parameterName);
        }

        InputChecks.RejectMetaDevice(input, "The batch", parameterName);
    }

    // The flow's value range against a batch's (min, max) read once by its caller.
    internal void CheckInputRange(double min, double max, string parameterName)
    {
        if (InputRange is { } range && (min < range.Min || max > range.Max))
        {
            throw new ArgumentException(
                $"Input values must lie in [{range.Min}, {range.Max}]; this batch spans [{min}, {max}].", parameterName);
        }
    }

    // The flow's dtype: that of its first parameter outside a 16-bit st-network (ConditionerPrecision's inference copy).
    private (ScalarType Dtype, Device Device) ParameterDtypeAndDevice()
    {
        var device = CPU;
        foreach (var parameter in parameters())
        {
            if (!LowPrecision.IsLow(parameter.dtype))
            {
                return (parameter.dtype, parameter.device);
            }

            device = parameter.device;
        }

        return (ScalarType.Float32, device);
    }
}
