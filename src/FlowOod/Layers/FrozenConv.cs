using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// A 2-D convolution with fixed weights, for a frozen inference copy: y = conv2d(x, W) + b with zero padding, W
/// <c>[Cout, Cin, kh, kw]</c> and b <c>[Cout]</c> (or none) stored once in the dtype they are used in and, on the CPU,
/// channels-last (<see cref="ConvLayout"/>). Not a module: it has no state-dict keys, so the flow that holds it saves
/// and copies as the unfused flow it was folded from.
/// </summary>
internal sealed class FrozenConv : IDisposable
{
    private readonly long[] stride;
    private readonly long[] padding;
    private Tensor weight;
    private Tensor? bias;
    private Tensor? matrix; // a 1×1, stride-1, unpadded conv's W as [Cin, Cout], for AccumulateInto

    /// <summary>Stores <paramref name="weight"/> and <paramref name="bias"/> (any float dtype, e.g. float64 after a fold)
    /// as new tensors of <paramref name="dtype"/>; the arguments are left to the caller.</summary>
    /// <param name="weight">W <c>[Cout, Cin, kh, kw]</c>.</param>
    /// <param name="bias">b <c>[Cout]</c>, or null.</param>
    /// <param name="stride">(sh, sw).</param>
    /// <param name="padding">Zero padding (ph, pw).</param>
    /// <param name="dtype">The dtype to store and compute in.</param>
    public FrozenConv(Tensor weight, Tensor? bias, long[] stride, long[] padding, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 4)
        {
            throw new ArgumentException($"A convolution weight is [Cout, Cin, kh, kw], got {Shapes.Format(weight.Sizes())}.", nameof(weight));
        }

        this.stride = (long[])stride.Clone();
        this.padding = (long[])padding.Clone();
        (this.weight, this.bias) = Store(weight, bias, dtype);
        matrix = Matrix(this.weight, this.stride, this.padding);
    }

    /// <summary>The dtype the weights are stored and used in.</summary>
    public ScalarType DType => weight.dtype;

    /// <summary>Whether <paramref name="input"/> can be convolved as it is: same dtype and device as the weights.</summary>
    public bool Accepts(Tensor input) => input.dtype == weight.dtype && input.device_type == weight.device_type && input.device_index == weight.device_index;

    /// <summary>The weight (for tests; do not dispose it).</summary>
    internal Tensor Weight => weight;

    /// <summary>conv2d(<paramref name="input"/>, W) + b: <c>[N, Cin, H, W]</c> → <c>[N, Cout, H', W']</c>, a new tensor.</summary>
    public Tensor Call(Tensor input) => nn.functional.conv2d(input, weight, bias, strides: stride, padding: padding);

    /// <summary>
    /// <paramref name="accumulator"/> += conv2d(<paramref name="input"/>, W) + b, in place; returns <paramref name="accumulator"/>.
    /// </summary>
    /// <remarks>
    /// A 1×1, stride-1, unpadded convolution without bias on channels-last tensors is a matrix product of the
    /// <c>[N·H·W, Cin]</c> view of the input with W as <c>[Cin, Cout]</c>: it accumulates into the <c>[N·H·W, Cout]</c> view
    /// of <paramref name="accumulator"/> in one GEMM (addmm_, β = α = 1), with no separate addition pass over the
    /// accumulator. Any other case (another kernel size, stride, padding, a bias, NCHW tensors): the convolution, then an
    /// in-place addition.
    /// </remarks>
    /// <param name="accumulator"><c>[N, Cout, H', W']</c>, same dtype as the weights; changed in place.</param>
    /// <param name="input"><c>[N, Cin, H, W]</c>.</param>
    /// <returns><paramref name="accumulator"/>.</returns>
    public Tensor AccumulateInto(Tensor accumulator, Tensor input)
    {
        if (AccumulatesByProduct(accumulator, input))
        {
            using var sums = accumulator.permute(0, 2, 3, 1);
            using var rows = input.permute(0, 2, 3, 1);
            using var sumRows = sums.view(-1, matrix!.size(1));
            using var inputRows = rows.view(-1, matrix.size(0));
            sumRows.addmm_(inputRows, matrix);
            return accumulator;
        }

        using var product = Call(input);
        return accumulator.PlusInPlace(product);
    }

    /// <summary>Whether <see cref="AccumulateInto"/> takes the matrix-product path for these tensors (for tests).</summary>
    internal bool AccumulatesByProduct(Tensor accumulator, Tensor input)
    {
        if (matrix is null || bias is not null || accumulator.dtype != weight.dtype || input.dtype != weight.dtype
            || accumulator.dim() != 4 || input.dim() != 4
            || accumulator.size(0) != input.size(0) || accumulator.size(2) != input.size(2) || accumulator.size(3) != input.size(3)
            || accumulator.size(1) != matrix.size(1) || input.size(1) != matrix.size(0))
        {
            return false;
        }

        using var sums = accumulator.permute(0, 2, 3, 1);
        using var rows = input.permute(0, 2, 3, 1);
        return sums.is_contiguous() && rows.is_contiguous();
    }

    /// <summary>
    /// The same convolution for <see cref="HostConv"/> (its weights copied and packed), or null when it is not one the
    /// managed kernel computes: float32 or bf16 CPU weights (bf16 widened to float32 exactly), a 1×1 or 3×3 kernel, stride 1
    /// and "same" padding (k / 2).
    /// </summary>
    public HostConv? ToHost()
    {
        var shape = weight.Sizes();
        long k = shape[2];
        if (weight.dtype is not (ScalarType.Float32 or ScalarType.BFloat16) || weight.device_type != DeviceType.CPU || k is not (1 or 3) || shape[3] != k
            || stride.Any(s => s != 1) || padding.Any(p => p != k / 2))
        {
            return null;
        }

        using var scope = NewDisposeScope();
        // bf16 weights widen to float32 exactly.
        var weights = weight.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        var biases = bias is null ? [] : bias.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        return new HostConv(weights, biases, (int)shape[1], (int)shape[0], (int)k);
    }

    /// <summary>Converts the stored weights to <paramref name="dtype"/> once (a bf16 inference copy).</summary>
    public void ConvertTo(ScalarType dtype)
    {
        if (dtype == weight.dtype)
        {
            return;
        }

        var (newWeight, newBias) = Store(weight, bias, dtype);
        weight.Dispose();
        bias?.Dispose();
        matrix?.Dispose();
        (weight, bias) = (newWeight, newBias);
        matrix = Matrix(weight, stride, padding);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        weight.Dispose();
        bias?.Dispose();
        matrix?.Dispose();
    }

    // W [Cout, Cin, 1, 1] as a dense [Cin, Cout] matrix when the conv is a per-pixel matrix product, else null.
    private static Tensor? Matrix(Tensor weight, long[] stride, long[] padding)
    {
        if (weight.size(2) != 1 || weight.size(3) != 1 || stride.Any(s => s != 1) || padding.Any(p => p != 0))
        {
            return null;
        }

        using var scope = NewDisposeScope();
        return weight.reshape(weight.size(0), weight.size(1)).t().contiguous().DetachFromDisposeScope();
    }

    private static (Tensor Weight, Tensor? Bias) Store(Tensor weight, Tensor? bias, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var typed = weight.detach().to(dtype);
        var laidOut = ConvLayout.NeedsCopy(typed) ? ConvLayout.ChannelsLast(typed) : typed.clone();
        var storedBias = bias?.detach().to(dtype).clone();
        return (laidOut.DetachFromDisposeScope(), storedBias?.DetachFromDisposeScope());
    }
}
