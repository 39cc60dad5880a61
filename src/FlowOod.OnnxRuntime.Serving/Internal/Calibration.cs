using System;

namespace FlowOod.OnnxRuntime.Internal;

// A detector's conformal calibration read from an exported file: sorted scores s₁ ≤ … ≤ sₙ and α. The p-value of a
// score s is (1 + #{sᵢ ≥ s}) / (n + 1) and the verdict p ≤ α, computed as FlowOod's OodDetector computes them.
internal sealed class Calibration
{
    private readonly double[] sorted;

    public Calibration(double[] sorted, double alpha, double threshold)
    {
        this.sorted = sorted;
        Alpha = alpha;
        Threshold = threshold;
    }

    public double Alpha { get; }

    public double Threshold { get; }

    public double[] Scores => sorted;

    public OnnxPrediction Predict(double score)
    {
        var atLeast = sorted.Length - LowerBound(score);
        var pValue = (1.0 + atLeast) / (sorted.Length + 1.0);
        return new OnnxPrediction(pValue <= Alpha, score, pValue);
    }

    // The index of the first calibration score ≥ s (n when none is; a NaN score counts none).
    private int LowerBound(double s)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] < s)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
