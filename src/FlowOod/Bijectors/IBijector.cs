using TorchSharp;

namespace FlowOod.Bijectors;

/// <summary>
/// An invertible, differentiable map with a tractable Jacobian determinant: the building block of a normalizing flow.
/// </summary>
/// <remarks>
/// <para>Conventions, stated once for every bijector in FlowOod:</para>
/// <list type="bullet">
/// <item><description><b>Direction.</b> <see cref="Forward"/> maps data to latent (x → z, the density-evaluation
/// direction); <see cref="Inverse"/> maps latent to data (z → x, the sampling direction).</description></item>
/// <item><description><b>Shapes.</b> Inputs are batch-first, <c>[N, ...]</c> (images <c>[N, C, H, W]</c>). Both
/// directions return the output and <c>LogDet</c> of shape <c>[N]</c>: log|det ∂output/∂input| summed over every
/// non-batch dimension, one value per example.</description></item>
/// <item><description><b>Consistency.</b> <c>Inverse(Forward(x).Output).Output ≈ x</c> and
/// <c>Inverse(Forward(x).Output).LogDet ≈ −Forward(x).LogDet</c>.</description></item>
/// <item><description><b>Ownership.</b> Inputs are never disposed or modified; outputs are new tensors owned by the
/// caller (dispose them, or create them inside a <c>torch.NewDisposeScope()</c>).</description></item>
/// </list>
/// </remarks>
public interface IBijector
{
    /// <summary>Data → latent: y = f(x) and log|det ∂f/∂x| per example.</summary>
    /// <param name="input">x, shape <c>[N, ...]</c>.</param>
    /// <returns>The output y (same element count as x) and the log-determinant, shape <c>[N]</c>.</returns>
    (torch.Tensor Output, torch.Tensor LogDet) Forward(torch.Tensor input);

    /// <summary>Latent → data: x = f⁻¹(y) and log|det ∂f⁻¹/∂y| per example.</summary>
    /// <param name="input">y, shape <c>[N, ...]</c>.</param>
    /// <returns>The output x and the log-determinant, shape <c>[N]</c>.</returns>
    (torch.Tensor Output, torch.Tensor LogDet) Inverse(torch.Tensor input);
}
