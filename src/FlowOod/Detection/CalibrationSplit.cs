using System;

namespace FlowOod.Detection;

/// <summary>
/// The random train/calibration split shared by <c>OodGate.Fit</c> and <c>EmbeddingDetector.Fit</c>: N × fraction
/// examples (rounded half away from zero) calibrate the detector, the rest train the flow; drawn from a private generator.
/// </summary>
internal static class CalibrationSplit
{
    /// <summary>The held-out count; it must reach ⌈1/α⌉ and leave at least 2 to train the flow.</summary>
    /// <param name="count">N, the examples given.</param>
    /// <param name="fraction">The calibration fraction.</param>
    /// <param name="alpha">α, the target false-positive rate.</param>
    /// <param name="what">What the examples are, plural ("in-distribution inputs", "rows").</param>
    /// <param name="parameterName">The parameter the examples came in.</param>
    /// <exception cref="ArgumentException">Too few examples for α and the flow.</exception>
    internal static long CalibrationCount(long count, double fraction, double alpha, string what, string parameterName)
    {
        var calibrationCount = (long)Math.Round(count * fraction, MidpointRounding.AwayFromZero);
        var required = OodDetector.RequiredCalibrationCount(alpha);
        if (calibrationCount < required || count - calibrationCount < 2)
        {
            throw new ArgumentException(
                $"{count} {what} with a calibration fraction of {fraction} leave {calibrationCount} for calibration and "
                + $"{count - calibrationCount} for training the flow; α = {alpha} needs at least {required} for calibration "
                + "(α ≥ 1/n) and the flow at least 2. Give more data, or change the fraction or α.",
                parameterName);
        }

        return calibrationCount;
    }

    /// <summary>Indices 0..count−1 shuffled by Fisher-Yates with <c>new Random(seed)</c> (torch's global generator is
    /// neither read nor advanced); the first <paramref name="calibrationCount"/> calibrate; both parts sorted.</summary>
    internal static (long[] Train, long[] Calibration) Split(long count, long calibrationCount, int seed)
    {
        var order = new long[count];
        for (long i = 0; i < count; i++)
        {
            order[i] = i;
        }

        var random = new Random(seed);
        for (long i = count - 1; i > 0; i--)
        {
            var j = random.NextInt64(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        var calibration = order[..(int)calibrationCount];
        var train = order[(int)calibrationCount..];
        Array.Sort(calibration);
        Array.Sort(train);
        return (train, calibration);
    }
}
