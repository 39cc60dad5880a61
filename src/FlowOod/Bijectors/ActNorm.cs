using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Glow's activation normalization (Kingma &amp; Dhariwal 2018): a per-channel affine map with data-dependent
/// initialisation.
/// </summary>
/// <remarks>
/// <para>For input <c>[N, C, spatial...]</c> (images <c>[N, C, H, W]</c>, vectors <c>[N, C]</c>) with per-channel
/// parameters b (<c>bias</c>) and log s (<c>log_scale</c>), both of shape <c>[C]</c>:</para>
/// <para>Forward: y = (x + b) ⊙ exp(log s), LogDet = P·Σ_c log s_c;</para>
/// <para>Inverse: x = y ⊙ exp(−log s) − b, LogDet = −P·Σ_c log s_c;</para>
/// <para>where P is the number of positions per channel (H·W for images, 1 for vectors).</para>
/// <para><b>Initialisation is explicit.</b> A new layer is uninitialised and <see cref="Bijector.Forward(Tensor)"/> and
/// <see cref="Bijector.Inverse"/> throw an <see cref="InvalidOperationException"/> until
/// <see cref="InitializeFrom"/> has set b = −mean and log s = −log(std + 10⁻⁶) per channel from a batch of the data
/// the layer will see (so that batch comes out with zero mean and unit variance per channel), or until a state dict
/// saved after initialisation has been loaded. For a whole flow, <see cref="InitializeAll(nn.Module{Tensor, Tensor}, Tensor, bool)"/>
/// initialises every ActNorm in data order. Whether the layer is initialised is the buffer <c>initialized</c>
/// (a 0-dim bool tensor), so it is saved and loaded with the parameters and a reloaded model is never re-initialised
/// by accident (a common bug in Python flow libraries whose flag was a plain attribute).</para>
/// <para><b>No host sync per call.</b> Forward and Inverse read a host-side copy of the flag, not the buffer (reading a
/// tensor's value waits for the device). The copy is set by <see cref="InitializeFrom"/> and re-read from the buffer
/// once after the buffer has been handed out (by <c>state_dict()</c>, <c>named_buffers()</c>, <c>buffers()</c> or
/// <c>get_buffer</c>), which every load path goes through: TorchSharp's <c>load</c> and <c>load_state_dict</c> and
/// FlowOod's model files copy into the tensors of <c>state_dict()</c>. A value written into a buffer obtained that way
/// is therefore seen by the next Forward, Inverse or <see cref="IsInitialized"/>; keep no such tensor to write into
/// later.</para>
/// </remarks>
public sealed partial class ActNorm : Bijector
{
    /// <summary>The ε of log s = −log(std + ε) in <see cref="InitializeFrom"/>.</summary>
    public const double Epsilon = 1e-6;

    // ActNorm layers that InitializeAll has armed on this thread: each initialises itself from the first input its
    // Forward sees, then leaves the set.
    [ThreadStatic]
    private static HashSet<ActNorm>? pendingInitialization;

    private readonly Parameter bias;
    private readonly Parameter log_scale;
    private readonly Tensor initialized;
    private readonly long channels;

    // The host-side copy of the `initialized` buffer, and whether the buffer may have been written since it was taken.
    private bool initializedOnHost;
    private bool hostCopyStale;

    /// <summary>Creates an uninitialised layer (b = 0, log s = 0 until <see cref="InitializeFrom"/>).</summary>
    /// <param name="numChannels">C, the size of dimension 1 of the input.</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numChannels"/> is not positive.</exception>
    public ActNorm(long numChannels, Device? device = null)
        : base(nameof(ActNorm))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numChannels);
        channels = numChannels;
        using (var scope = NewDisposeScope())
        {
            bias = Parameters.Create(zeros(numChannels, device: device));
            log_scale = Parameters.Create(zeros(numChannels, device: device));
            // Not tensor(false): that leaves a temporary wrapper behind for the finalizer.
            initialized = zeros([], dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
        }
        RegisterComponents();
    }

    /// <summary>C, the number of channels (features).</summary>
    public long NumChannels => channels;

    /// <summary>Whether the layer has been initialised (by <see cref="InitializeFrom"/> or a loaded state dict).</summary>
    public bool IsInitialized
    {
        get
        {
            if (hostCopyStale)
            {
                initializedOnHost = initialized.item<bool>();
                hostCopyStale = false;
                BufferReads++;
            }

            return initializedOnHost;
        }
    }

    /// <summary>How often the <c>initialized</c> buffer's value has been copied to the host (for tests of the sync count).</summary>
    internal int BufferReads { get; private set; }

    /// <summary>
    /// Data-dependent initialisation: sets b = −mean and log s = −log(std + <see cref="Epsilon"/>) per channel, so that
    /// <paramref name="batch"/> comes out of <see cref="Bijector.Forward(Tensor)"/> with zero mean and unit variance per channel.
    /// </summary>
    /// <remarks>
    /// Mean and (population) standard deviation are taken per channel over the batch and all positions. Runs without
    /// gradients; overwrites any previous initialisation and sets the <c>initialized</c> buffer.
    /// </remarks>
    /// <param name="batch">Data as it arrives at this layer, <c>[N, C, spatial...]</c>, with at least two values per channel.</param>
    /// <exception cref="ArgumentException">The batch has the wrong shape or dtype, too few values, or non-finite statistics.</exception>
    public void InitializeFrom(Tensor batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ValidateInput(batch, nameof(InitializeFrom));
        var perChannel = batch.numel() / channels;
        if (perChannel < 2)
        {
            throw new ArgumentException(
                $"ActNorm.InitializeFrom needs at least 2 values per channel to estimate a standard deviation, got a batch of shape {Shapes.Format(batch.Sizes())}.",
                nameof(batch));
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = batch.detach().transpose(0, 1).reshape(channels, perChannel);
        var (std, mean) = flat.std_mean(1, unbiased: false);
        if (!std.isfinite().all().ReadBoolean() || !mean.isfinite().all().ReadBoolean())
        {
            throw new ArgumentException("ActNorm.InitializeFrom got a batch with NaN or infinite values.", nameof(batch));
        }

        bias.copy_(mean.neg());
        log_scale.copy_(std.Plus(Epsilon).log_().neg_());
        initialized.fill_(ScalarMath.True);
        initializedOnHost = true;
        hostCopyStale = false;
    }

    /// <inheritdoc/>
    /// <remarks>Hands out the <c>initialized</c> buffer, so the host-side flag is re-read from it on next use.</remarks>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        hostCopyStale = true;
        return base.state_dict(destination, prefix);
    }

    /// <inheritdoc/>
    /// <remarks>Hands out the <c>initialized</c> buffer, so the host-side flag is re-read from it on next use.</remarks>
    public override IEnumerable<(string name, Tensor buffer)> named_buffers(bool recurse = true, bool include_nonpersistent = true)
    {
        hostCopyStale = true;
        return base.named_buffers(recurse, include_nonpersistent);
    }

    /// <inheritdoc/>
    /// <remarks>Hands out the <c>initialized</c> buffer, so the host-side flag is re-read from it on next use.</remarks>
    public override IEnumerable<Tensor> buffers(bool recurse = true, bool include_nonpersistent = true)
    {
        hostCopyStale = true;
        return base.buffers(recurse, include_nonpersistent);
    }

    /// <inheritdoc/>
    /// <remarks>May hand out the <c>initialized</c> buffer, so the host-side flag is re-read from it on next use.</remarks>
    public override Tensor? get_buffer(string target)
    {
        hostCopyStale = true;
        return base.get_buffer(target);
    }

    /// <summary>
    /// Initialises every <see cref="ActNorm"/> of <paramref name="model"/> (a flow, <c>NormalizingFlow</c>) from
    /// <paramref name="batch"/> in data order: the batch runs forward through the model once (its <c>forward</c>, a
    /// flow's log-density), and each ActNorm is initialised from the tensor that reaches it (so it already sees the output
    /// of the ActNorms before it).
    /// </summary>
    /// <remarks>
    /// Call it once on a first batch of training data before training a flow that contains ActNorm layers (e.g.
    /// Glow, <c>Models.Glow</c>), and not after loading a trained model (its ActNorms are initialised already and
    /// are skipped unless <paramref name="reinitialize"/> is true; nothing runs then). The pass runs without gradients in
    /// the model's current mode (train or eval), so layers with BatchNorm update their running statistics as in a
    /// training step; a flow's dequantization uses its own noise setting.
    /// </remarks>
    /// <param name="model">The model, typically a flow; its <c>forward</c> must reach every ActNorm inside it.</param>
    /// <param name="batch">Training data <c>[N, eventShape...]</c>, validated by a flow like its log-density's input.</param>
    /// <param name="reinitialize">Also re-initialise ActNorms that are initialised already (default false: skip them).</param>
    /// <returns>The number of ActNorm layers initialised.</returns>
    /// <exception cref="ArgumentException">The batch is not valid input for the flow.</exception>
    /// <exception cref="InvalidOperationException">An ActNorm was not reached by the forward pass.</exception>
    /// <exception cref="NotSupportedException">An uninitialised ActNorm is reached in the inverse direction (inside <see cref="InverseOf"/>).</exception>
    public static int InitializeAll(nn.Module<Tensor, Tensor> model, Tensor batch, bool reinitialize = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        try
        {
            return InitializeAll(model, () => model.forward(batch), reinitialize);
        }
        catch (ArgumentException e) when (e.ParamName == "input")
        {
            // The flow names its own parameter; here the batch is this method's.
            var reason = e.Message.Replace(" (Parameter 'input')", string.Empty, StringComparison.Ordinal);
            throw new ArgumentException(reason, nameof(batch), e);
        }
    }

    /// <summary>
    /// Initialises every <see cref="ActNorm"/> inside <paramref name="bijector"/> (including itself) from
    /// <paramref name="batch"/> in data order; see <see cref="InitializeAll(nn.Module{Tensor, Tensor}, Tensor, bool)"/>.
    /// </summary>
    /// <param name="bijector">The bijector, typically a <see cref="Chain"/>.</param>
    /// <param name="batch">Input of <paramref name="bijector"/>, <c>[N, ...]</c>.</param>
    /// <param name="reinitialize">Also re-initialise ActNorms that are initialised already (default false: skip them).</param>
    /// <returns>The number of ActNorm layers initialised.</returns>
    /// <exception cref="InvalidOperationException">An ActNorm was not reached by the forward pass, or an initialisation
    /// pass is already running on this thread.</exception>
    /// <exception cref="NotSupportedException">An uninitialised ActNorm is reached in the inverse direction.</exception>
    public static int InitializeAll(Bijector bijector, Tensor batch, bool reinitialize = false)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        ArgumentNullException.ThrowIfNull(batch);
        return InitializeAll(bijector, () => bijector.Forward(batch), reinitialize);
    }

    /// <summary>
    /// Arms every <see cref="ActNorm"/> of <paramref name="model"/> (uninitialised ones, or all with
    /// <paramref name="reinitialize"/>), runs <paramref name="forward"/> once without gradients in a dispose scope of its
    /// own, and checks that every armed layer was reached. Nothing runs when no layer is armed.
    /// </summary>
    internal static int InitializeAll(nn.Module model, Action forward, bool reinitialize)
    {
        var targets = new HashSet<ActNorm>(ReferenceEqualityComparer.Instance);
        foreach (var module in model.modules().Prepend(model))
        {
            if (module is ActNorm actNorm && (reinitialize || !actNorm.IsInitialized))
            {
                targets.Add(actNorm);
            }
        }

        if (targets.Count == 0)
        {
            return 0;
        }

        if (pendingInitialization is not null)
        {
            throw new InvalidOperationException("An ActNorm initialisation pass is already running on this thread.");
        }

        var count = targets.Count;
        pendingInitialization = targets;
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            forward();
            if (targets.Count > 0)
            {
                throw new InvalidOperationException(
                    $"{targets.Count} of {count} ActNorm layers were not reached by {model.GetType().Name}.Forward and are still uninitialised: "
                    + string.Join(", ", targets.Select(a => a.ToString())) + ". Initialise them with ActNorm.InitializeFrom.");
            }
        }
        finally
        {
            pendingInitialization = null;
        }

        return count;
    }

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        if (input.size(1) != channels)
        {
            throw new ArgumentException(
                $"ActNorm.{direction} expects [N, {channels}, ...] ({channels} channels), got {Shapes.Format(input.Sizes())}.", nameof(input));
        }
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        if (pendingInitialization is { } pending && pending.Remove(this))
        {
            InitializeFrom(input);
        }

        EnsureInitialized(nameof(Forward));
        var shape = BroadcastShape(input);
        var output = input.Plus(bias.reshape(shape)).mul_(log_scale.exp().reshape(shape));
        return (output, LogDet(input));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        if (pendingInitialization is { } pending && pending.Contains(this))
        {
            throw new NotSupportedException(
                $"{this} was reached in the inverse direction (e.g. inside InverseOf) during InitializeAll; data-dependent "
                + "initialisation runs forward only. Initialise this layer with ActNorm.InitializeFrom instead.");
        }

        EnsureInitialized(nameof(Inverse));
        var shape = BroadcastShape(input);
        var output = input.mul(log_scale.neg().exp_().reshape(shape)).sub_(bias.reshape(shape));
        return (output, LogDet(input).neg_());
    }

    /// <inheritdoc/>
    public override string ToString() => $"ActNorm(C={channels})";

    private void EnsureInitialized(string direction)
    {
        if (!IsInitialized)
        {
            throw new InvalidOperationException(
                $"{this} is not initialised, so {direction} cannot run: call InitializeFrom(batch) with a first batch of data "
                + "(ActNorm.InitializeAll(flow, batch) initialises every ActNorm of a flow), or load a state dict saved after initialisation.");
        }
    }

    /// <summary>[1, C, 1, ...]: the parameters' shape broadcast against <paramref name="input"/>.</summary>
    private long[] BroadcastShape(Tensor input)
    {
        var shape = Enumerable.Repeat(1L, (int)input.dim()).ToArray();
        shape[1] = channels;
        return shape;
    }

    /// <summary>P·Σ log s repeated for each of the N examples, P the positions per channel.</summary>
    private Tensor LogDet(Tensor input)
    {
        var positions = Shapes.Product(input.Sizes().AsSpan(2));
        return log_scale.sum().Times(positions).expand(input.size(0)).contiguous();
    }
}
