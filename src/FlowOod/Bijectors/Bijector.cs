using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <summary>
/// An invertible, differentiable map with a tractable Jacobian determinant, the building block of a normalizing flow;
/// the base class of FlowOod's bijectors and a TorchSharp module (so parameters, buffers, devices and state dicts work
/// as usual).
/// </summary>
/// <remarks>
/// <para>Conventions, stated once for every bijector in FlowOod:</para>
/// <list type="bullet">
/// <item><description><b>Direction.</b> <see cref="Forward(Tensor)"/> maps data to latent (x → z, the density-evaluation
/// direction); <see cref="Inverse"/> maps latent to data (z → x, the sampling direction).</description></item>
/// <item><description><b>Shapes.</b> Inputs are batch-first, <c>[N, ...]</c> (images <c>[N, C, H, W]</c>). Both
/// directions return the output and <c>LogDet</c> of shape <c>[N]</c>: log|det ∂output/∂input| summed over every
/// non-batch dimension, one value per example.</description></item>
/// <item><description><b>Consistency.</b> <c>Inverse(Forward(x).Output).Output ≈ x</c> and
/// <c>Inverse(Forward(x).Output).LogDet ≈ −Forward(x).LogDet</c>.</description></item>
/// <item><description><b>Ownership.</b> Inputs are never disposed or modified; outputs are new tensors owned by the
/// caller (dispose them, or create them inside a <c>torch.NewDisposeScope()</c>).</description></item>
/// </list>
/// <para>Implementing one: <see cref="Forward(Tensor)"/> and <see cref="Inverse"/> validate the input, run
/// <see cref="ForwardCore"/> or <see cref="InverseCore"/> inside a dispose scope, and move only the two results out of
/// it, so temporaries are freed layer by layer. Subclasses implement the two <c>Core</c> methods with plain tensor math
/// and must return new tensors (use <c>alias()</c> for a pass-through), never their input.</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage(
    "Naming", "CA1708", Justification = "TorchSharp requires the lower-case forward override; the public API is Forward.")]
public abstract class Bijector : nn.Module<Tensor, (Tensor Output, Tensor LogDet)>
{
    /// <summary>Creates the module with a name used in <see cref="object.ToString"/> and state-dict paths.</summary>
    protected Bijector(string name)
        : base(name)
    {
        FlowOodRuntime.EnsureAvailable();
    }

    /// <summary>Data → latent: y = f(x) and log|det ∂f/∂x| per example.</summary>
    /// <param name="input">x, shape <c>[N, ...]</c>.</param>
    /// <returns>The output y (same element count as x) and the log-determinant, shape <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">The input's shape does not fit this bijector.</exception>
    public (Tensor Output, Tensor LogDet) Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ValidateInput(input, nameof(Forward));
        using var scope = NewDisposeScope();
        var (output, logDet) = ForwardCore(input);
        return scope.MoveToOuter(output, logDet);
    }

    /// <summary>Latent → data: x = f⁻¹(y) and log|det ∂f⁻¹/∂y| per example.</summary>
    /// <param name="input">y, shape <c>[N, ...]</c>.</param>
    /// <returns>The output x and the log-determinant, shape <c>[N]</c>.</returns>
    /// <exception cref="ArgumentException">The input's shape does not fit this bijector.</exception>
    public (Tensor Output, Tensor LogDet) Inverse(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ValidateInput(input, nameof(Inverse));
        using var scope = NewDisposeScope();
        var (output, logDet) = InverseCore(input);
        return scope.MoveToOuter(output, logDet);
    }

    /// <summary>TorchSharp's module entry point; the same as <see cref="Forward(Tensor)"/>.</summary>
    public sealed override (Tensor Output, Tensor LogDet) forward(Tensor input) => Forward(input);

    /// <summary>Computes y = f(x) and log|det ∂f/∂x| per example. Must not return <paramref name="input"/> itself.</summary>
    protected abstract (Tensor Output, Tensor LogDet) ForwardCore(Tensor input);

    /// <summary>Computes x = f⁻¹(y) and log|det ∂f⁻¹/∂y| per example. Must not return <paramref name="input"/> itself.</summary>
    protected abstract (Tensor Output, Tensor LogDet) InverseCore(Tensor input);

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the problem when <paramref name="input"/> does not fit. The base
    /// check requires a batch-first tensor of rank ≥ 2 with a floating-point dtype.
    /// </summary>
    /// <param name="input">The tensor passed to <see cref="Forward(Tensor)"/> or <see cref="Inverse"/>.</param>
    /// <param name="direction">"Forward" or "Inverse", for the message.</param>
    protected virtual void ValidateInput(Tensor input, string direction)
    {
        if (input.dim() < 2)
        {
            throw new ArgumentException(
                $"{GetType().Name}.{direction} expects a batch-first tensor [N, ...] of rank >= 2, got shape {Shapes.Format(input.Sizes())}.",
                nameof(input));
        }

        if (!input.is_floating_point())
        {
            throw new ArgumentException(
                $"{GetType().Name}.{direction} expects a floating-point tensor (float32 or float64), got {input.dtype}.",
                nameof(input));
        }
    }

    /// <summary>A zero log-determinant of shape <c>[N]</c> matching <paramref name="like"/>'s batch, dtype and device.</summary>
    protected static Tensor ZeroLogDet(Tensor like) => zeros(like.size(0), dtype: like.dtype, device: like.device);

    /// <summary>Sums a per-element tensor over every non-batch dimension, giving <c>[N]</c>.</summary>
    protected static Tensor SumPerExample(Tensor perElement) => perElement.flatten(1).sum(1);
}
