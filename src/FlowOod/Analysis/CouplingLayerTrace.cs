using System;
using System.Collections.Generic;
using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>
/// What one coupling layer did to a batch of images (Kirichenko et al. 2020, Sec. 6): its input and output, the
/// log-scale s and shift t its st-network predicted, and which entries it conditions on and changes, all in the flow's
/// image layout. Owns its tensors; dispose it (or the <see cref="CouplingTrace"/> it came from).
/// </summary>
/// <remarks>
/// <para>For the layer's conditioning mask b (<c>true</c> = conditioning half) and transform mask m, its input x and its
/// st-network output (ŝ, t) = st(x ⊙ b): s = a(ŝ) is the log-scale after the layer's scale activation and the output is
/// y = (x + t) ⊙ exp(s) on the transformed entries, x elsewhere (<see cref="Bijectors.AffineCoupling"/>; an
/// <see cref="Bijectors.AdditiveCoupling"/> has y = x + t and no s). <see cref="LogScale"/> and <see cref="Shift"/> are
/// zero outside the transformed entries. So where t ≈ −x the output is ≈ 0, a point of high density under the
/// Gaussian prior: the st-network "predicts the masked pixels from their neighbours".</para>
/// <para><b>Layout.</b> Every tensor is <c>[N, eventShape...]</c> of the flow (<c>[N, C, H, W]</c> for images), the
/// layer's own tensors mapped through the inverse of the reshape steps before it (<see cref="LatentView"/>): squeezed
/// channels are un-squeezed to their pixels, permuted channels put back. Entries the layer does not see — set aside by
/// a factor-out at an outer scale before it — are 0 in the tensors and false in both masks. For Glow, an entry after
/// the 1×1 convolutions is a mixture of the channels at its position, shown at that position.</para>
/// </remarks>
public sealed class CouplingLayerTrace : IDisposable
{
    private readonly long[] layerShape;
    private bool disposed;

    internal CouplingLayerTrace(
        int number, int scale, long[] layerShape, Tensor input, Tensor output, Tensor? logScale, Tensor? shift, Tensor conditionMask, Tensor transformMask)
    {
        Number = number;
        Scale = scale;
        this.layerShape = layerShape;
        Input = input;
        Output = output;
        LogScale = logScale;
        Shift = shift;
        ConditionMask = conditionMask;
        TransformMask = transformMask;
    }

    /// <summary>The display name, e.g. "coupling 3 (scale 1)".</summary>
    public string Name => $"coupling {Number} (scale {Scale})";

    /// <summary>1-based position among the flow's coupling layers, in forward (data → latent) order.</summary>
    public int Number { get; }

    /// <summary>1-based scale: 1 + the number of factor-outs the layer sits inside (1 for a single-scale flow).</summary>
    public int Scale { get; }

    /// <summary>The layer's own event shape (e.g. <c>[4, 14, 14]</c> after a squeeze of <c>[1, 28, 28]</c>).</summary>
    public IReadOnlyList<long> LayerShape => layerShape;

    /// <summary>x, the layer's input, <c>[N, eventShape...]</c> in image layout.</summary>
    public Tensor Input { get; }

    /// <summary>y, the layer's output, <c>[N, eventShape...]</c> in image layout.</summary>
    public Tensor Output { get; }

    /// <summary>s, the log-scale after the scale activation, zero outside the transformed entries; null for a
    /// volume-preserving coupling.</summary>
    public Tensor? LogScale { get; }

    /// <summary>t, the shift, zero outside the transformed entries; null for a coupling defined outside FlowOod.</summary>
    public Tensor? Shift { get; }

    /// <summary>b: true where the layer conditions (entries fed to its st-network), bool <c>[eventShape...]</c>.</summary>
    public Tensor ConditionMask { get; }

    /// <summary>m: true where the layer changes its input, bool <c>[eventShape...]</c>.</summary>
    public Tensor TransformMask { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        Input.Dispose();
        Output.Dispose();
        LogScale?.Dispose();
        Shift?.Dispose();
        ConditionMask.Dispose();
        TransformMask.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
