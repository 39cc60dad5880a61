using System;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>
/// The latent-space view of Kirichenko et al. (2020, Sec. 5): a flow's latents z, and the "reshape model" that puts
/// every latent coordinate back at the pixel position it came from.
/// </summary>
/// <remarks>
/// <para><b>Reshape model.</b> For a flow f = f_K ∘ … ∘ f_1 (<see cref="NormalizingFlow.Transform"/>), the reshape model
/// R is the same tree of bijectors with every step that changes values replaced by the identity: coupling layers,
/// <see cref="ActNorm"/>, <see cref="InvertibleConv1x1"/>, <see cref="LuInvertibleConv1x1"/>, and — unless
/// <c>includePreprocessing</c> is set — <see cref="UniformDequantization"/> and <see cref="Logit"/>. What stays are the
/// steps that only move coordinates: <see cref="Squeeze"/> (and its <see cref="InverseOf"/>), <see cref="FactorOut"/>
/// and <see cref="Permutation"/>. R⁻¹(z) therefore undoes only the squeezes, splits and permutations, and shows latent
/// coordinate z_i at the pixel position whose value it encodes.</para>
/// <para>FlowOod's builders (<see cref="Models.RealNvp"/>, <see cref="Models.Glow"/>,
/// <see cref="Models.SingleScaleRealNvp"/>) already keep the latent in the input's layout (every squeeze is undone after
/// its factor-out), so for their flows R is the identity map on <c>[N, C, H, W]</c> and <see cref="ToPixelLayout"/>
/// returns a copy of z; for a flow composed by hand (e.g. one that ends squeezed or permutes channels) it is not.</para>
/// <para><b>Latents.</b> <see cref="Latents"/> gives z = f(x) for images x, for one dequantization draw or averaged over
/// several (the paper averages 40, which removes the noise and shows the image's silhouette in z), with the flow's
/// BatchNorm layers on their running statistics or on the batch's (<see cref="BatchNormStatistics"/>).</para>
/// <para>Nothing here changes the flow: no mode switch, no BatchNorm update, no gradient; every result is a new tensor
/// owned by the caller. The paper's two pictures, a single-sample latent (drawn clipped to [−2, 2]) and the mean of 40
/// draws:</para>
/// <code>
/// using var single = LatentView.Latents(flow, images, ScoringNoise.Random);
/// using var mean = LatentView.Latents(flow, images, ScoringNoise.Random, samples: 40);
/// using var picture = LatentView.ToPixelLayout(flow, mean);   // [N, C, H, W]
/// </code>
/// </remarks>
public static class LatentView
{
    /// <summary>
    /// Builds the reshape model of <paramref name="flow"/>: its bijector tree with every value-changing step replaced by
    /// the identity (see <see cref="LatentView"/>). The result is made of new modules that share nothing with the flow.
    /// </summary>
    /// <param name="flow">A flow composed of FlowOod's bijectors.</param>
    /// <param name="includePreprocessing">Keep <see cref="UniformDequantization"/> and <see cref="Logit"/> (the paper's
    /// variant "with iLogits": its inverse then applies the sigmoid and quantizes to 8-bit levels); default false, the
    /// variant the paper plots.</param>
    /// <returns>A new bijector mapping <c>[N, eventShape...]</c> to <c>[N, eventShape...]</c> with log-determinant 0
    /// (unless preprocessing is included); dispose it.</returns>
    /// <exception cref="NotSupportedException">The flow holds a bijector FlowOod does not know, so where its coordinates go
    /// is unknown.</exception>
    public static Bijector ReshapeModel(NormalizingFlow flow, bool includePreprocessing = false)
    {
        ArgumentNullException.ThrowIfNull(flow);
        FlowStructure.CheckSupported(flow.Transform);
        return FlowStructure.Reshape(flow.Transform, includePreprocessing) ?? new IdentityBijector();
    }

    /// <summary>
    /// Puts latent coordinates at their pixel positions: R⁻¹(z) for the reshape model R of <paramref name="flow"/>.
    /// </summary>
    /// <param name="flow">A flow composed of FlowOod's bijectors.</param>
    /// <param name="latent">z, <c>[N, eventShape...]</c> (e.g. from <see cref="Latents"/> or
    /// <see cref="NormalizingFlow.Transform"/>.Forward), float32 or float64.</param>
    /// <param name="includePreprocessing">See <see cref="ReshapeModel"/>; default false.</param>
    /// <returns>A new tensor <c>[N, eventShape...]</c> (<c>[N, C, H, W]</c> for images): a permutation of z's entries
    /// (a copy of z for the builders' flows), or with preprocessing included its sigmoid, quantized.</returns>
    /// <exception cref="ArgumentException">The latent has the wrong shape or a non-floating dtype.</exception>
    /// <exception cref="NotSupportedException">The flow holds a bijector FlowOod does not know.</exception>
    public static Tensor ToPixelLayout(NormalizingFlow flow, Tensor latent, bool includePreprocessing = false)
    {
        ArgumentNullException.ThrowIfNull(flow);
        CheckLatent(flow, latent);
        using var model = ReshapeModel(flow, includePreprocessing);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (output, _) = model.Inverse(latent);
        return scope.MoveToOuter(output);
    }

    /// <summary>
    /// The latents z = f(x) of <paramref name="images"/> under <paramref name="flow"/>, averaged over
    /// <paramref name="samples"/> dequantization draws: z̄ = (1/S) Σ_s f(x; u_s).
    /// </summary>
    /// <remarks>
    /// <para>All S draws take their u from one source of <paramref name="noise"/>, so <see cref="ScoringNoise.Random"/> gives
    /// S fresh draws (the paper's average over 40) and <see cref="ScoringNoise.SeededStream(ulong)"/> S reproducible
    /// draws for the same batch, while <see cref="ScoringNoise.BinCentres"/> and <see cref="ScoringNoise.Seeded(ulong)"/>
    /// give the same u every time (the average equals one draw). Flows without dequantization ignore the noise.</para>
    /// <para>With <see cref="BatchNormStatistics.Batch"/> the draws run on a copy of the flow in training mode (the
    /// paper's RealNVP "train mode" latents): each example's z then depends on the whole batch. The flow passed in is
    /// never switched or updated.</para>
    /// </remarks>
    /// <param name="flow">The flow; its ActNorm layers, if any, must be initialised.</param>
    /// <param name="images">x, <c>[N, eventShape...]</c>, valid input of the flow (see <see cref="NormalizingFlow.ValidateInput(Tensor)"/>).</param>
    /// <param name="noise">The dequantization noise of the draws.</param>
    /// <param name="samples">S ≥ 1, the number of draws averaged. Default 1 (a single-sample latent).</param>
    /// <param name="statistics">The BatchNorm statistics (default <see cref="BatchNormStatistics.Running"/>).</param>
    /// <returns>A new tensor <c>[N, eventShape...]</c> in the flow's latent layout (see <see cref="ToPixelLayout"/>), of the
    /// images' dtype.</returns>
    /// <exception cref="ArgumentException">The images are not valid input of the flow (shape, dtype, NaN, range).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samples"/> is not positive or
    /// <paramref name="statistics"/> is not a defined value.</exception>
    /// <exception cref="NotSupportedException">A copy of the flow is needed (<see cref="BatchNormStatistics.Batch"/>, or a
    /// flow in training mode) and the flow was not made by builder options.</exception>
    public static Tensor Latents(
        NormalizingFlow flow, Tensor images, ScoringNoise noise, int samples = 1, BatchNormStatistics statistics = BatchNormStatistics.Running)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(noise);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        AnalysisFlows.CheckStatistics(statistics);
        flow.ValidateInput(images, nameof(images));
        return AnalysisFlows.Query(flow, statistics, model =>
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            using var source = noise.Open();
            Tensor? sum = null;
            for (int s = 0; s < samples; s++)
            {
                var (latent, _) = model.ForwardUnchecked(images, source);
                sum = sum is null ? latent : sum.PlusInPlace(latent);
            }

            return scope.MoveToOuter(samples == 1 ? sum! : sum!.DivideInPlace(samples));
        });
    }

    private static void CheckLatent(NormalizingFlow flow, Tensor latent)
    {
        ArgumentNullException.ThrowIfNull(latent);
        var eventShape = flow.EventShape.ToArray();
        if (!Shapes.EventMatches(latent.Sizes(), eventShape))
        {
            throw new ArgumentException(
                $"Expected a latent of shape [N, {string.Join(", ", eventShape)}], got {Shapes.Format(latent.Sizes())}.", nameof(latent));
        }

        if (!latent.is_floating_point())
        {
            throw new ArgumentException($"Expected a float32 or float64 latent, got {latent.dtype}.", nameof(latent));
        }
    }
}
