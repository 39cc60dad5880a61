using System;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// Batch normalisation over <c>[N, C, H, W]</c> with learnable affine parameters and running statistics: FlowOod's
/// replacement for TorchSharp's <c>BatchNorm2d</c> (momentum 0.1, ε = 10⁻⁵), with the same state-dict keys and order
/// (<c>weight</c>, <c>bias</c>, then the buffers <c>running_mean</c>, <c>running_var</c> and the int64 scalar
/// <c>num_batches_tracked</c>) and the same kernel (<c>nn.functional.batch_norm</c>).
/// </summary>
/// <remarks>
/// TorchSharp's module draws nothing, but it creates its parameters with <c>new Parameter</c>, which leaves the
/// live-tensor count one higher for good per parameter (see <see cref="Parameters"/>), and it is otherwise the same
/// computation: in training, batch statistics, the running statistics updated with momentum 0.1 and
/// <c>num_batches_tracked</c> incremented; in evaluation, the running statistics. Starts at weight 1, bias 0, mean 0,
/// variance 1 (left uninitialised inside <see cref="ParameterInitialization.Skip"/>).
/// </remarks>
internal sealed partial class BatchNorm2dLayer : nn.Module<Tensor, Tensor>
{
    /// <summary>The weight of the newest batch in the running statistics.</summary>
    public const double Momentum = 0.1;

    /// <summary>Added to the variance before the square root.</summary>
    public const double Epsilon = 1e-5;

    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    /// <summary>Creates the layer for <paramref name="channels"/> channels.</summary>
    /// <param name="channels">C.</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    public BatchNorm2dLayer(long channels, Device? device = null)
        : base("BatchNorm2d")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        var skip = ParameterInitialization.IsSkipped;
        weight = Parameters.Create(skip ? empty(channels, device: device) : ones(channels, device: device));
        bias = Parameters.Create(skip ? empty(channels, device: device) : zeros(channels, device: device));
        using (var scope = NewDisposeScope())
        {
            running_mean = (skip ? empty(channels, device: device) : zeros(channels, device: device)).DetachFromDisposeScope();
            running_var = (skip ? empty(channels, device: device) : ones(channels, device: device)).DetachFromDisposeScope();
            num_batches_tracked = zeros([], dtype: ScalarType.Int64, device: device).DetachFromDisposeScope();
        }

        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 4)
        {
            throw new ArgumentException($"BatchNorm2d expects [N, C, H, W], got {Shapes.Format(input.Sizes())}.", nameof(input));
        }

        if (training)
        {
            // add_ returns a second managed wrapper of the buffer; the scope frees that wrapper, not the buffer.
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            num_batches_tracked.add_(ScalarMath.One, ScalarMath.One);
        }

        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, Epsilon);
    }

    /// <summary>
    /// The evaluation-mode map as a per-channel affine y = a·x + c, in float64 on the layer's device, for folding into a
    /// convolution: a = γ/√(σ² + ε) and c = β − μ·a (μ, σ² the running statistics). New tensors <c>[C]</c>, owned by the
    /// caller; the layer is left unchanged.
    /// </summary>
    internal (Tensor Scale, Tensor Shift) EvaluationAffine()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var scale = weight.detach().to(ScalarType.Float64).div(running_var.to(ScalarType.Float64).PlusInPlace(Epsilon).sqrt_());
        var shift = running_mean.to(ScalarType.Float64).mul_(scale).neg_().PlusInPlace(bias.detach().to(ScalarType.Float64));
        return (scope.MoveToOuter(scale), scope.MoveToOuter(shift));
    }

    /// <summary>
    /// The evaluation-mode map y = a·x + c read in managed code from the layer's current values (computed in float64,
    /// stored as float32), for a managed inference path: false, and nothing written, when the layer is in training mode
    /// or a parameter or statistic is not a contiguous float32 or bf16 CPU tensor of <paramref name="scale"/>'s length
    /// (bf16 values, as a bf16 inference copy stores them, widen to float32 exactly).
    /// </summary>
    /// <param name="scale">a, one per channel (at most 1,024).</param>
    /// <param name="shift">c, one per channel; the same length as <paramref name="scale"/>.</param>
    internal bool TryReadEvaluationAffine(Span<float> scale, Span<float> shift)
    {
        const int MaxChannels = 1024;
        if (training || shift.Length != scale.Length || scale.Length > MaxChannels
            || !IsHostVector(weight, scale.Length) || !IsHostVector(bias, scale.Length)
            || !IsHostVector(running_mean, scale.Length) || !IsHostVector(running_var, scale.Length))
        {
            return false;
        }

        int n = scale.Length;
        var gamma = Widen(weight, stackalloc float[n]);
        var beta = Widen(bias, stackalloc float[n]);
        var mean = Widen(running_mean, stackalloc float[n]);
        var variance = Widen(running_var, stackalloc float[n]);
        for (int c = 0; c < n; c++)
        {
            double a = gamma[c] / Math.Sqrt(variance[c] + Epsilon);
            scale[c] = (float)a;
            shift[c] = (float)(beta[c] - (mean[c] * a));
        }

        return true;
    }

    // A float32 tensor's values in place, or a bf16 tensor's widened into `buffer` (a bf16 value is a float32's high half).
    private static ReadOnlySpan<float> Widen(Tensor tensor, Span<float> buffer)
    {
        if (tensor.dtype == ScalarType.Float32)
        {
            return MemoryMarshal.Cast<byte, float>(tensor.bytes);
        }

        var halves = MemoryMarshal.Cast<byte, ushort>(tensor.bytes);
        for (int c = 0; c < buffer.Length; c++)
        {
            buffer[c] = BFloat16Bits.Widen(halves[c]);
        }

        return buffer;
    }

    private static bool IsHostVector(Tensor tensor, int length) =>
        tensor.dtype is ScalarType.Float32 or ScalarType.BFloat16 && tensor.device_type == DeviceType.CPU && tensor.is_contiguous() && tensor.numel() == length;
}
