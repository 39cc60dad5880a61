using System;
using FlowOod.Detection;

namespace FlowOod.Gating;

// The random train/calibration split of OodGate.Fit, drawn from a private generator.
internal static class GateSplit
{
    // The held-out count: N × fraction, rounded half away from zero; it must reach ⌈1/α⌉ and leave at least 2 to train.
    internal static long CalibrationCount(long count, OodGateOptions options, string parameterName)
    {
        var calibrationCount = (long)Math.Round(count * options.CalibrationFraction, MidpointRounding.AwayFromZero);
        var required = OodDetector.RequiredCalibrationCount(options.TargetFalsePositiveRate);
        if (calibrationCount < required || count - calibrationCount < 2)
        {
            throw new ArgumentException(
                $"{count} in-distribution inputs with a calibration fraction of {options.CalibrationFraction} leave {calibrationCount} for calibration and "
                + $"{count - calibrationCount} for training the flow; α = {options.TargetFalsePositiveRate} needs at least {required} for calibration "
                + "(α ≥ 1/n) and the flow at least 2. Give more data, or change the fraction or α.",
                parameterName);
        }

        return calibrationCount;
    }

    internal static (long[] Train, long[] Calibration) Split(long count, long calibrationCount, int seed)
    {
        var order = new long[count];
        for (long i = 0; i < count; i++)
        {
            order[i] = i;
        }

        // Fisher-Yates with a private generator: torch's global generator is neither read nor advanced.
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
