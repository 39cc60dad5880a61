using System;
using FlowOod.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// Glow's LU-decomposed invertible 1×1 convolution (Kingma &amp; Dhariwal 2018): channel mixing whose weight stays
/// invertible and whose log-determinant is a sum.
/// </summary>
/// <remarks>
/// <para>The weight is W = P·L·(U + diag(sign_s ⊙ exp(log_s))), where P is a fixed permutation matrix (buffer
/// <c>permutation</c>), L is unit lower-triangular (parameter <c>lower</c>, of which only the entries strictly below
/// the diagonal are used), U is strictly upper-triangular (parameter <c>upper</c>, only the entries strictly above the
/// diagonal are used), sign_s is a fixed vector of ±1 (buffer <c>sign_scale</c>) and log_s a parameter
/// (<c>log_scale</c>), all <c>[C, C]</c> or <c>[C]</c>. With one channel L = U' = diag and only <c>log_scale</c>
/// is trainable: <c>lower</c> and <c>upper</c> (<c>[1, 1]</c>, no entries off the diagonal) are then buffers under the
/// same state-dict keys. For input <c>[N, C, H, W]</c> (or vectors <c>[N, C]</c>, where
/// H·W is replaced by 1):</para>
/// <para>Forward: y[:, :, h, w] = W·x[:, :, h, w], LogDet = H·W·Σ_c log_s[c];</para>
/// <para>Inverse: x = W⁻¹ y with W⁻¹ = (U + diag(sign_s ⊙ exp(log_s)))⁻¹·L⁻¹·Pᵀ from two triangular solves in
/// float64 (cast back to the parameters' dtype), LogDet = −H·W·Σ_c log_s[c].</para>
/// <para>det W = det P · Π_c sign_s[c]·exp(log_s[c]) is never zero, so W stays invertible whatever the parameters.
/// The layer starts from the LU factorisation (with partial pivoting) of a random orthogonal matrix, drawn from
/// torch's global generator, so initially W is orthogonal (loading a model file or copying a flow skips the draw: the
/// stored factors are copied in).</para>
/// </remarks>
public sealed partial class LuInvertibleConv1x1 : Bijector
{
    private readonly Tensor permutation;
    private readonly Tensor lower;
    private readonly Tensor upper;
    private readonly Parameter log_scale;
    private readonly Tensor sign_scale;
    private readonly long channels;

    /// <summary>Creates the layer from the LU factorisation of a random orthogonal matrix.</summary>
    /// <param name="numChannels">C, the size of dimension 1 of the input.</param>
    /// <param name="device">Where to create the parameters and buffers (null: CPU).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numChannels"/> is not positive.</exception>
    public LuInvertibleConv1x1(long numChannels, Device? device = null)
        : base(nameof(LuInvertibleConv1x1))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numChannels);
        channels = numChannels;
        using var scope = NewDisposeScope();
        var (p, l, u, logS, signS) = InitialFactors(numChannels, device);
        permutation = p;
        // With one channel L and U have no entries off the diagonal: nothing in them can change W, so they are buffers
        // (no gradient can reach them and an optimiser has nothing to train). The state-dict keys and shapes stay the
        // same, so model files load either way.
        lower = numChannels == 1 ? l : Parameters.Create(l);
        upper = numChannels == 1 ? u : Parameters.Create(u);
        log_scale = Parameters.Create(logS);
        sign_scale = signS;
        RegisterComponents();
    }

    /// <summary>C, the number of channels (features).</summary>
    public long NumChannels => channels;

    /// <summary>Computes the weight W = P·L·(U + diag(sign_s ⊙ exp(log_s))), <c>[C, C]</c>.</summary>
    /// <returns>A new tensor owned by the caller (it carries gradients back to the parameters).</returns>
    public Tensor ComputeWeight()
    {
        using var scope = NewDisposeScope();
        var (l, u) = Factors();
        return scope.MoveToOuter(permutation.matmul(l.matmul(u)));
    }

    /// <inheritdoc/>
    protected override void ValidateInput(Tensor input, string direction)
    {
        base.ValidateInput(input, direction);
        ChannelMixing.Validate(input, channels, nameof(LuInvertibleConv1x1), direction);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input)
    {
        var (l, u) = Factors();
        var weight = permutation.matmul(l.matmul(u));
        return (ChannelMixing.Apply(input, weight), ChannelMixing.LogDet(log_scale.sum(), input));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input)
    {
        var (l, u) = Factors();
        // L·Z = Pᵀ, then U'·W⁻¹ = Z.
        var z = linalg.solve_triangular(l.to(ScalarType.Float64), permutation.t().to(ScalarType.Float64), upper: false, unitriangular: true);
        var inverse = linalg.solve_triangular(u.to(ScalarType.Float64), z, upper: true).to(log_scale.dtype);
        return (ChannelMixing.Apply(input, inverse), ChannelMixing.LogDet(log_scale.sum(), input).neg_());
    }

    /// <inheritdoc/>
    public override string ToString() => $"LuInvertibleConv1x1(C={channels})";

    /// <summary>
    /// P, the strictly lower part of L, the strictly upper part of U, log|diag U| and sign(diag U) of the LU factorisation
    /// of a random orthogonal <c>[C, C]</c> matrix, in the default dtype, outside any dispose scope.
    /// </summary>
    private static (Tensor P, Tensor Lower, Tensor Upper, Tensor LogScale, Tensor SignScale) InitialFactors(long channels, Device? device)
    {
        using var scope = NewDisposeScope();
        var dtype = get_default_dtype();
        var orthogonal = ChannelMixing.RandomOrthogonal(channels, device).to(ScalarType.Float64);
        var (p, l, u) = linalg.lu(orthogonal);
        var diagonal = u.diagonal();
        var sign = diagonal.sign();

        // |d| as d·sign(d) (exact; libtorch has no meta-device kernel for abs, and model loading builds on the meta device first).
        return (Keep(p), Keep(l.tril(-1)), Keep(u.triu(1)), Keep(diagonal.mul(sign).log()), Keep(sign));

        // In the default dtype, contiguous (state-dict serialisation needs it) and outside any dispose scope.
        Tensor Keep(Tensor t) => t.to(dtype).contiguous().DetachFromDisposeScope();
    }

    /// <summary>L (unit lower-triangular) and U' = U + diag(sign_s ⊙ exp(log_s)) (upper-triangular).</summary>
    private (Tensor L, Tensor U) Factors()
    {
        var identity = eye(channels, dtype: lower.dtype, device: lower.device);
        var l = lower.tril(-1).PlusInPlace(identity);
        var u = upper.triu(1).PlusInPlace(diag(sign_scale.mul(log_scale.exp())));
        return (l, u);
    }
}
