using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The input perturbation of Ren et al. (2019) for training the background model of a
/// <see cref="LikelihoodRatioScorer"/>: every entry of an image is, independently with probability μ
/// (<see cref="MutationRate"/>), replaced by a uniformly random 8-bit level k/255 with k ∈ {0, …, 255}.
/// </summary>
/// <remarks>
/// <para>Inputs are image batches <c>[N, ...]</c> (float32 or float64) scaled to [0, 1], as FlowOod's image flows expect.
/// Entries that are not replaced are copied unchanged; replaced entries lie on the 8-bit grid {0, 1/255, …, 1}, so a
/// batch on that grid stays on it. μ = 0 returns an exact copy, μ = 1 uniform noise over the 256 levels.</para>
/// <para>Ren et al. train the background model on fresh perturbations every step and pick μ from {0.1, 0.2, 0.3}
/// (optionally with L2 weight decay, see <see cref="Training.TrainingOptions.WeightDecay"/>) by validation AUROC;
/// <see cref="LikelihoodRatioScorer.TrainBackground"/> does the training.</para>
/// </remarks>
public sealed class PixelPerturbation
{
    /// <summary>Creates the perturbation.</summary>
    /// <param name="mutationRate">μ, the probability that an entry is replaced; 0 ≤ μ ≤ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mutationRate"/> is NaN or outside [0, 1].</exception>
    public PixelPerturbation(double mutationRate)
    {
        if (!(mutationRate >= 0 && mutationRate <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(mutationRate), mutationRate, "The mutation rate μ must lie in [0, 1].");
        }

        MutationRate = mutationRate;
    }

    /// <summary>μ, the probability that an entry is replaced by a random 8-bit level. Range: 0 ≤ μ ≤ 1.</summary>
    public double MutationRate { get; }

    /// <summary>Returns a perturbed copy of <paramref name="images"/>.</summary>
    /// <param name="images"><c>[N, ...]</c>, float32 or float64, values in [0, 1]. Not modified.</param>
    /// <param name="generator">The random source (on the images' device), or null for TorchSharp's global generator.
    /// The same generator state gives the same perturbation.</param>
    /// <returns>A new tensor owned by the caller, same shape, dtype and device as <paramref name="images"/>.</returns>
    /// <exception cref="ArgumentException">The images are not floating point, contain NaN/Inf, or lie outside [0, 1].</exception>
    public Tensor Apply(Tensor images, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException($"Expected float32 or float64 images, got {images.dtype}.", nameof(images));
        }

        if (images.dim() == 0)
        {
            throw new ArgumentException("Expected a batch [N, ...], got a scalar.", nameof(images));
        }

        InputChecks.RejectMetaDevice(images, "The images", nameof(images));
        using var scope = NewDisposeScope();
        if (images.numel() == 0)
        {
            return scope.MoveToOuter(images.clone());
        }

        var (min, max) = InputChecks.MinMaxOnHost(images);
        if (!double.IsFinite(min) || !double.IsFinite(max))
        {
            throw new ArgumentException("The images contain NaN or infinite values.", nameof(images));
        }

        if (min < 0 || max > 1)
        {
            throw new ArgumentException($"Image values must lie in [0, 1]; this batch spans [{min}, {max}].", nameof(images));
        }

        using var noGrad = no_grad();
        var replace = rand(images.Sizes(), dtype: ScalarType.Float64, device: images.device, generator: generator).LessThan(MutationRate);
        var levels = randint(0, 256, images.Sizes(), dtype: images.dtype, device: images.device, generator: generator).DivideInPlace(255.0);
        return scope.MoveToOuter(where(replace, levels, images));
    }
}
