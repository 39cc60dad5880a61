using System;
using System.Linq;
using FlowOod.Conditioners;
using FlowOod.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Base class of FlowOod's coupling layers (<see cref="AffineCoupling"/>, <see cref="AdditiveCoupling"/>): the mask
/// and st-network plumbing they share.
/// </summary>
/// <remarks>
/// <para>Let b be the conditioning mask of <see cref="Mask"/> (<c>true</c> = conditioning entry, passed through
/// unchanged) and m its transform mask. The st-network sees only the conditioning entries and predicts the
/// parameters of an element-wise bijection of the transformed entries; every other entry is copied bit for bit.</para>
/// <list type="bullet">
/// <item><description><b>Channel-structured masks</b> (<see cref="CouplingMask.IsChannelStructured"/>, e.g.
/// <see cref="ChannelMask"/>): the st-network gets the conditioning channels, <c>[N, Cc, spatial...]</c>, and
/// outputs <c>k·Ct</c> channels for the <c>Ct</c> transformed ones (k = 2 for (ŝ, t), 1 for t alone).</description></item>
/// <item><description><b>Other masks</b> (e.g. <see cref="CheckerboardMask"/>): the st-network gets the whole event
/// with non-conditioning entries zeroed, x ⊙ b, and outputs <c>k·C</c> channels; the bijection is applied where
/// m is true and its log-determinant is summed over those entries only.</description></item>
/// </list>
/// <para>Shapes: input and output <c>[N, eventShape...]</c>, LogDet <c>[N]</c>. The state-dict keys are
/// <c>st_net.*</c> and the buffers <c>condition_mask</c>, <c>transform_mask</c> (bool, event-shaped),
/// <c>condition_channels</c> and <c>transform_channels</c> (int64 channel indices, empty unless channel-structured).</para>
/// <para><b>Writing your own coupling.</b> Derive from this class, pass the mask, st-network factory and k to the
/// constructor, and implement <see cref="Couple"/>: the element-wise bijection and its log-scale. The base class owns
/// the mask buffers, the st-network, the split and merge of the entries, the log-determinant and the input checks, so
/// the masking is right by construction (entries outside the transformed set are copied bit for bit in both
/// directions).</para>
/// </remarks>
public abstract partial class CouplingLayer : Bijector
{
    private readonly nn.Module<Tensor, Tensor> st_net;
    private readonly Tensor condition_mask;
    private readonly Tensor transform_mask;
    private readonly Tensor condition_channels;
    private readonly Tensor transform_channels;
    private readonly long[] eventShape;
    private readonly bool channelStructured;
    private ScalarType? conditionerDtype;

    /// <summary>Creates the mask buffers and the st-network, and registers them.</summary>
    /// <remarks>
    /// The st-network is <c>conditioner.Create(inputShape, k·Ct)</c> with inputShape <c>[Cc, spatial...]</c> (the
    /// conditioning channels) for a channel-structured mask and the event shape otherwise; Ct is
    /// <see cref="TransformedChannels"/>. A derived class registers its own parameters and buffers with
    /// <c>RegisterComponents()</c> at the end of its constructor.
    /// </remarks>
    /// <param name="name">The module name.</param>
    /// <param name="mask">The coupling mask.</param>
    /// <param name="conditioner">Creates the st-network.</param>
    /// <param name="mapsPerChannel">k: st-network output maps per transformed channel (2 for (ŝ, t), 1 for t).</param>
    /// <param name="device">Where to create the mask buffers and the st-network (null: CPU); a derived class creates its
    /// own parameters on the same device.</param>
    /// <exception cref="ArgumentNullException"><paramref name="mask"/> or <paramref name="conditioner"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mapsPerChannel"/> is not positive.</exception>
    protected CouplingLayer(string name, CouplingMask mask, IConditionerFactory conditioner, int mapsPerChannel, Device? device = null)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(conditioner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mapsPerChannel);
        Mask = mask;
        eventShape = mask.EventShapeArray;
        channelStructured = mask.IsChannelStructured;
        long[] conditionerInput;
        if (channelStructured)
        {
            TransformedChannels = mask.TransformChannels!.Count;
            conditionerInput = new[] { (long)mask.ConditionChannels!.Count }.Concat(eventShape.Skip(1)).ToArray();
        }
        else
        {
            TransformedChannels = eventShape[0];
            conditionerInput = eventShape;
        }

        st_net = conditioner.Create(conditionerInput, mapsPerChannel * TransformedChannels, device);
        condition_mask = tensor(mask.ConditionArray, eventShape, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
        transform_mask = tensor(mask.TransformArray, eventShape, dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
        condition_channels = tensor((mask.ConditionChannels ?? Array.Empty<long>()).ToArray(), dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        transform_channels = tensor((mask.TransformChannels ?? Array.Empty<long>()).ToArray(), dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();

        register_module(nameof(st_net), st_net);
        register_buffer(nameof(condition_mask), condition_mask);
        register_buffer(nameof(transform_mask), transform_mask);
        register_buffer(nameof(condition_channels), condition_channels);
        register_buffer(nameof(transform_channels), transform_channels);
    }

    /// <summary>
    /// <see cref="Couple"/> and the log-determinant computed in managed code for this call, or null (the default) to run
    /// them through libtorch. <see cref="AffineCoupling"/>'s takes a few float32 CPU images scored without gradients
    /// (<see cref="HostAffineCoupling"/>).
    /// </summary>
    /// <param name="input">The layer's input <c>[N, eventShape...]</c>.</param>
    /// <param name="conditionerOutput">The st-network's output for it.</param>
    /// <param name="transformMask">The transform mask for a spatial mask, else null.</param>
    /// <param name="transformChannels">The transformed channels for a channel-structured mask, else null.</param>
    /// <param name="inverse">Whether to apply the inverse.</param>
    private protected virtual (Tensor Output, Tensor LogDet)? TryCoupleOnHost(
        Tensor input, Tensor conditionerOutput, Tensor? transformMask, Tensor? transformChannels, bool inverse) => null;

    /// <summary>The coupling mask (<c>true</c> in <see cref="CouplingMask.Condition"/> = conditioning entry).</summary>
    public CouplingMask Mask { get; }

    /// <summary>Whether the st-network sees only the conditioning channels (see <see cref="CouplingMask.IsChannelStructured"/>).</summary>
    public bool IsChannelStructured => channelStructured;

    /// <summary>
    /// Ct: channels of the per-entry parameter maps the st-network predicts (the transformed channels for a
    /// channel-structured mask, otherwise all channels of the event).
    /// </summary>
    protected long TransformedChannels { get; }

    /// <summary>The event shape, formatted for messages and <see cref="object.ToString"/>.</summary>
    protected string FormattedEventShape => Shapes.Format(eventShape);

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (!Shapes.EventMatches(input.Sizes(), eventShape))
        {
            throw new ArgumentException(
                $"{GetType().Name}.{direction} expects [N, {string.Join(", ", eventShape)}], got {Shapes.Format(input.Sizes())}.",
                nameof(input));
        }
    }

    /// <inheritdoc/>
    protected sealed override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => Apply(input, inverse: false);

    /// <inheritdoc/>
    protected sealed override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => Apply(input, inverse: true);

    /// <summary>
    /// Applies the element-wise bijection (or its inverse) to <paramref name="changing"/> given the st-network output.
    /// </summary>
    /// <remarks>
    /// <para>Called by Forward (<paramref name="inverse"/> = false) and Inverse (true) with the same
    /// <paramref name="conditionerOutput"/> for the same conditioning entries, so a map and its inverse see the same
    /// parameters. Entry by entry, the forward map must be a bijection of the changing value whose parameters come from
    /// <paramref name="conditionerOutput"/> at the same position only.</para>
    /// <para>Return a <i>new</i> tensor (not <paramref name="changing"/>); entries outside the transform mask may hold
    /// anything, the base class replaces them with the input's. Temporaries need no disposing here: the call runs
    /// inside the dispose scope of <see cref="Bijector.Forward(Tensor)"/> or <see cref="Bijector.Inverse"/>.</para>
    /// <para>Log-scale convention: s is log|∂y/∂x| of the <i>forward</i> map per entry, in both directions (do not
    /// negate it for the inverse: the base class sums s over the transformed entries and negates the sum in Inverse).
    /// Return null for a volume-preserving map (s = 0).</para>
    /// </remarks>
    /// <param name="changing">The entries to transform: <c>[N, Ct, spatial...]</c> (the transformed channels) for a
    /// channel-structured mask, otherwise the whole input <c>[N, C, spatial...]</c> (only the entries under the
    /// transform mask are kept).</param>
    /// <param name="conditionerOutput">The st-network output, <c>[N, k·Ct, spatial...]</c> (Ct =
    /// <see cref="TransformedChannels"/>; for k = 2, e.g. the first Ct channels ŝ and the last Ct channels t).</param>
    /// <param name="inverse">Whether to apply the inverse.</param>
    /// <returns>The transformed entries (a new tensor shaped like <paramref name="changing"/>) and the per-entry
    /// log-scale s of the <i>forward</i> map, shaped like <paramref name="changing"/> (the log-determinant is Σ s over
    /// the transformed entries), or null when the map is volume-preserving.</returns>
    protected abstract (Tensor Changed, Tensor? LogScale) Couple(Tensor changing, Tensor conditionerOutput, bool inverse);

    /// <summary>The mask <paramref name="maskStrategy"/> chooses for <paramref name="eventShape"/> and <paramref name="layerIndex"/>
    /// (for constructors that take a mask strategy and pass the mask on to the base constructor).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="maskStrategy"/> is null.</exception>
    protected static CouplingMask CreateMask(long[] eventShape, IMaskStrategy maskStrategy, int layerIndex)
    {
        ArgumentNullException.ThrowIfNull(maskStrategy);
        return maskStrategy.Create(eventShape, layerIndex);
    }

    /// <summary>
    /// The shift t the st-network predicts from its output (the same tensor <see cref="Couple"/> adds to the changing
    /// entries), shaped <c>[N, Ct, spatial...]</c>, or null when the coupling has no shift or does not say (a coupling
    /// defined outside FlowOod).
    /// </summary>
    internal virtual Tensor? ShiftOf(Tensor conditionerOutput) => null;

    /// <summary>
    /// <see cref="Bijector.Forward(Tensor)"/> that also returns the log-scale s and the shift t of this input, each in
    /// the event layout <c>[N, eventShape...]</c> with zeros outside the transformed entries (for analysis: the output
    /// is computed by the same code as Forward's libtorch path, bit for bit; where Forward takes the managed step,
    /// <see cref="TryCoupleOnHost"/>, the two agree to float32 rounding). s is null for a volume-preserving coupling, t
    /// null when <see cref="ShiftOf"/> is. Runs in the caller's dispose scope.
    /// </summary>
    internal (Tensor Output, Tensor? LogScale, Tensor? Shift) ForwardWithParameters(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ValidateInput(input, nameof(Forward));
        var (output, _, logScale, shift) = Apply(input, inverse: false, capture: true);
        return (output, logScale, shift);
    }

    /// <summary>The conditioning (<paramref name="condition"/>) or transform mask as a 0/1 tensor <c>[eventShape...]</c> of <paramref name="dtype"/>.</summary>
    internal Tensor MaskAsValues(bool condition, ScalarType dtype) => (condition ? condition_mask : transform_mask).to(dtype);

    /// <summary>
    /// The dtype the st-network computes in, or null for the input's own (the default). With a narrower dtype (bf16) the
    /// conditioning entries are cast to it on the way in and the st-network's output is cast back to the input's dtype
    /// on the way out, so the coupling arithmetic, the log-determinant and every sum stay in the input's precision and
    /// the layer stays exactly invertible: both directions compute s and t from the same, unchanged conditioning entries.
    /// </summary>
    /// <remarks>Set by <c>Precision.ConditionerPrecision</c> only: on a private inference copy once, or by the trainer for
    /// the length of a mixed-precision run.</remarks>
    internal ScalarType? ConditionerDtype
    {
        get => conditionerDtype;
        set => conditionerDtype = value;
    }

    /// <summary>The st-network (for converting its parameters on a private inference copy).</summary>
    internal nn.Module<Tensor, Tensor> Conditioner => st_net;

    private Tensor CallConditioner(Tensor conditioning)
    {
        if (conditionerDtype is not { } dtype || dtype == conditioning.dtype)
        {
            return st_net.call(conditioning);
        }

        using var narrow = conditioning.to(dtype);
        using var output = st_net.call(narrow);
        return output.to(conditioning.dtype);
    }

    private (Tensor Output, Tensor LogDet) Apply(Tensor input, bool inverse)
    {
        var (output, logDet, _, _) = Apply(input, inverse, capture: false);
        return (output, logDet);
    }

    // capture: also return s and t in the event layout, zero outside the transformed entries.
    private (Tensor Output, Tensor LogDet, Tensor? LogScale, Tensor? Shift) Apply(Tensor input, bool inverse, bool capture)
    {
        Tensor output;
        Tensor? logScale;
        Tensor? shift = null;
        if (channelStructured)
        {
            var conditioning = input.index_select(1, condition_channels);
            var conditionerOutput = CallConditioner(conditioning);
            if (!capture && TryCoupleOnHost(input, conditionerOutput, null, transform_channels, inverse) is { } host)
            {
                return (host.Output, host.LogDet, null, null);
            }

            var changing = input.index_select(1, transform_channels);
            var (changed, s) = Couple(changing, conditionerOutput, inverse);
            output = input.index_copy(1, transform_channels, changed);
            logScale = s;
            if (capture)
            {
                shift = ShiftOf(conditionerOutput) is { } t ? zeros_like(input).index_copy_(1, transform_channels, t) : null;
            }
        }
        else
        {
            var conditionerOutput = CallConditioner(input.mul(condition_mask));
            if (!capture && TryCoupleOnHost(input, conditionerOutput, transform_mask, null, inverse) is { } host)
            {
                return (host.Output, host.LogDet, null, null);
            }

            var (changed, s) = Couple(input, conditionerOutput, inverse);
            output = where(transform_mask, changed, input);
            logScale = s?.mul(transform_mask);
            if (capture)
            {
                shift = ShiftOf(conditionerOutput)?.mul(transform_mask);
            }
        }

        if (logScale is null)
        {
            return (output, ZeroLogDet(input), null, shift);
        }

        var logDet = SumPerExample(logScale);
        Tensor? capturedLogScale = null;
        if (capture)
        {
            capturedLogScale = channelStructured ? zeros_like(input).index_copy_(1, transform_channels, logScale) : logScale;
        }

        return (output, inverse ? logDet.neg_() : logDet, capturedLogScale, shift);
    }
}
