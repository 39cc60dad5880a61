using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Per-feature standardisation z = (x − μ) / σ of feature vectors <c>[N, D]</c>, with μ and σ fitted on
/// in-distribution data (as the reference does for tabular data before fitting a flow).
/// </summary>
/// <remarks>
/// <para><see cref="Fit"/> sets μⱼ to the mean of feature j and σⱼ = max(sⱼ, <see cref="RelativeFloor"/> · maxₖ sₖ), where
/// sⱼ is the population standard deviation (divisor N) of feature j. The floor keeps near-constant features (for
/// example a ReLU unit that never fires on the training data) from dividing by zero: such a feature standardises to
/// 0 on data like the training data, and any departure from its constant value becomes a large standardised value, a
/// strong out-of-distribution signal. Data in which every feature is constant is rejected.</para>
/// <para>State is plain managed doubles (<see cref="Mean"/>, <see cref="StandardDeviation"/>), so a standardiser can be
/// saved and recreated exactly with the constructor.</para>
/// </remarks>
public sealed class FeatureStandardizer
{
    /// <summary>The floor on σⱼ relative to the largest feature standard deviation: 1e-6.</summary>
    public const double RelativeFloor = 1e-6;

    private readonly double[] mean;
    private readonly double[] standardDeviation;

    /// <summary>Creates a standardiser from its state.</summary>
    /// <param name="mean">μ, one finite value per feature (D ≥ 1). Copied.</param>
    /// <param name="standardDeviation">σ, one finite positive value per feature. Copied.</param>
    /// <exception cref="ArgumentException">The lengths differ or are 0, a mean is not finite, or a standard deviation is
    /// not finite and positive.</exception>
    public FeatureStandardizer(IReadOnlyList<double> mean, IReadOnlyList<double> standardDeviation)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(standardDeviation);
        if (mean.Count == 0)
        {
            throw new ArgumentException("A standardiser needs at least one feature; the mean is empty.", nameof(mean));
        }

        if (mean.Count != standardDeviation.Count)
        {
            throw new ArgumentException(
                $"The mean has {mean.Count} features but the standard deviation has {standardDeviation.Count}.", nameof(standardDeviation));
        }

        this.mean = new double[mean.Count];
        this.standardDeviation = new double[mean.Count];
        for (int j = 0; j < this.mean.Length; j++)
        {
            if (!double.IsFinite(mean[j]))
            {
                throw new ArgumentException($"The mean of feature {j} is {mean[j]}; it must be finite.", nameof(mean));
            }

            if (!(standardDeviation[j] > 0) || !double.IsFinite(standardDeviation[j]))
            {
                throw new ArgumentException(
                    $"The standard deviation of feature {j} is {standardDeviation[j]}; it must be finite and positive.", nameof(standardDeviation));
            }

            this.mean[j] = mean[j];
            this.standardDeviation[j] = standardDeviation[j];
        }

        Mean = Array.AsReadOnly(this.mean);
        StandardDeviation = Array.AsReadOnly(this.standardDeviation);
    }

    /// <summary>μ, the per-feature mean (in the features' unit), length D.</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>σ, the per-feature scale (positive, in the features' unit), length D.</summary>
    public IReadOnlyList<double> StandardDeviation { get; }

    /// <summary>D, the number of features.</summary>
    public int FeatureDimension => mean.Length;

    /// <summary>Fits μ and σ on in-distribution features (see <see cref="FeatureStandardizer"/> for the floor on σ).</summary>
    /// <param name="features"><c>[N, D]</c>, float32 or float64, finite, N ≥ 2. Statistics are computed in float64.</param>
    /// <returns>The fitted standardiser.</returns>
    /// <exception cref="ArgumentException">Wrong rank or dtype, fewer than 2 rows, NaN or infinite values, or every
    /// feature constant.</exception>
    public static FeatureStandardizer Fit(Tensor features)
    {
        Validate(features, expectedDimension: null, nameof(features));
        if (features.size(0) < 2)
        {
            throw new ArgumentException($"Fitting a standardiser needs at least 2 rows, got {features.size(0)}.", nameof(features));
        }

        using var scope = NewDisposeScope();
        var values = features.to_type(ScalarType.Float64).cpu();
        var mean = values.mean([0L]).data<double>().ToArray();
        var spread = values.std(0, unbiased: false).data<double>().ToArray();
        double largest = 0;
        foreach (var s in spread)
        {
            largest = Math.Max(largest, s);
        }

        if (!(largest > 0))
        {
            throw new ArgumentException(
                $"Every one of the {spread.Length} features is constant over the {features.size(0)} rows; there is nothing to standardise.",
                nameof(features));
        }

        var floor = RelativeFloor * largest;
        for (int j = 0; j < spread.Length; j++)
        {
            spread[j] = Math.Max(spread[j], floor);
        }

        return new FeatureStandardizer(mean, spread);
    }

    /// <summary>
    /// Null when every σⱼ ≥ <see cref="RelativeFloor"/> · maxₖ σₖ (as <see cref="Fit"/> guarantees, and a stored
    /// standardiser must satisfy), else what is wrong. A damaged σⱼ (an exponent bit flipped) breaks it and would otherwise
    /// turn in-range inputs into standardised features of 10⁹ and more.
    /// </summary>
    internal static string? FloorViolation(IReadOnlyList<double> standardDeviation)
    {
        double largest = 0;
        foreach (var s in standardDeviation)
        {
            largest = Math.Max(largest, s);
        }

        // The floor is computed exactly as Fit computes it, so a fitted σ always passes.
        var floor = RelativeFloor * largest;
        for (int j = 0; j < standardDeviation.Count; j++)
        {
            if (!(standardDeviation[j] >= floor))
            {
                return $"[{j}] is {standardDeviation[j].ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, below the floor "
                    + $"{RelativeFloor.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} × the largest σ "
                    + $"({largest.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}) that every fitted standardiser keeps";
            }
        }

        return null;
    }

    /// <summary>z = (x − μ) / σ per feature, dimensionless.</summary>
    /// <param name="features"><c>[N, D]</c>, float32 or float64, finite; N may be 0.</param>
    /// <returns>A new tensor <c>[N, D]</c> with the dtype and device of <paramref name="features"/> (computed in float64).</returns>
    /// <exception cref="ArgumentException">Wrong rank, D or dtype, or NaN or infinite values.</exception>
    public Tensor Apply(Tensor features)
    {
        Validate(features, FeatureDimension, nameof(features));
        return ApplyUnchecked(features);
    }

    /// <summary><see cref="Apply"/> for features whose rank, D, dtype, device and finiteness the caller has checked
    /// (saves the second pass over them, a host sync).</summary>
    internal Tensor ApplyUnchecked(Tensor features)
    {
        using var scope = NewDisposeScope();
        var mu = tensor(mean, [1, mean.Length], ScalarType.Float64, features.device);
        var sigma = tensor(standardDeviation, [1, standardDeviation.Length], ScalarType.Float64, features.device);
        var result = features.to_type(ScalarType.Float64).sub(mu).div_(sigma).to_type(features.dtype);
        return scope.MoveToOuter(result);
    }

    /// <summary>
    /// <see cref="ApplyUnchecked(Tensor)"/> for float32 rows in managed memory: <paramref name="rows"/> <c>[N, D]</c>
    /// row-major into <paramref name="standardized"/> (same length), each z computed in float64 and rounded to float32,
    /// bit for bit what the tensor form computes for a float32 input.
    /// </summary>
    internal void ApplyUnchecked(ReadOnlySpan<float> rows, Span<float> standardized)
    {
        for (int k = 0; k < rows.Length; k++)
        {
            var j = k % mean.Length;
            standardized[k] = (float)((rows[k] - mean[j]) / standardDeviation[j]);
        }
    }

    private static void Validate(Tensor features, int? expectedDimension, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(features, parameterName);
        if (features.Dimensions != 2)
        {
            throw new ArgumentException(
                $"Expected features of shape [N, D] (rank 2), got {Shapes.Format(features.Sizes())}.", parameterName);
        }

        if (expectedDimension is { } d && features.size(1) != d)
        {
            throw new ArgumentException(
                $"Expected {d} features per row, got shape {Shapes.Format(features.Sizes())}.", parameterName);
        }

        if (features.size(1) == 0)
        {
            throw new ArgumentException("The features have no columns (D = 0).", parameterName);
        }

        if (features.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException($"Expected float32 or float64 features, got {features.dtype}.", parameterName);
        }

        InputChecks.RejectMetaDevice(features, "The features", parameterName);
        using var scope = NewDisposeScope();
        if (!isfinite(features).all().item<bool>())
        {
            throw new ArgumentException("The features contain NaN or infinite values.", parameterName);
        }
    }
}
