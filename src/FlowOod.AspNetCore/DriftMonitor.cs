using System;

namespace FlowOod.AspNetCore;

/// <summary>What the drift monitor saw over its window.</summary>
internal readonly record struct DriftSnapshot(int Window, int Decisions, int OutOfDistribution, double Alpha, double Z)
{
    /// <summary>The OOD rate over the decisions in the window (0 when there are none).</summary>
    public double Rate => Decisions == 0 ? 0 : (double)OutOfDistribution / Decisions;

    /// <summary>α + z·√(α(1 − α)/W): the rate above which the alarm goes off.</summary>
    public double AlarmRate => DriftMonitor.AlarmRate(Alpha, Window, Z);

    /// <summary>Fewer than W decisions seen since the gate was loaded.</summary>
    public bool IsWarmingUp => Decisions < Window;

    /// <summary>A full window whose OOD rate exceeds <see cref="AlarmRate"/>.</summary>
    public bool IsDrifting => !IsWarmingUp && Rate > AlarmRate;
}

/// <summary>
/// The OOD verdicts of the last W decisions (a ring buffer), for the drift alarm of the health check.
/// </summary>
/// <remarks>
/// Under in-distribution traffic each decision is refused with probability at most α (the gate's conformal guarantee),
/// so the count of refusals in W decisions is (at most) Binomial(W, α), with mean Wα and standard deviation
/// √(Wα(1 − α)). The rate over the window therefore exceeds α + z·√(α(1 − α)/W) with probability about
/// 1 − Φ(z) (normal approximation, good when Wα(1 − α) ≳ 10): 0.001 for the default z = 3.09. A higher rate is the
/// alarm: the traffic has drifted away from the calibration data (or the gate no longer fits it). Consecutive checks
/// share most of their window, so the false-alarm probability is per check, not per independent window.
/// </remarks>
internal sealed class DriftMonitor
{
    private readonly object gate = new();
    private readonly bool[] window;
    private readonly double z;
    private int next;
    private int filled;
    private int outCount;
    private double alpha;

    public DriftMonitor(int windowSize, double z)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowSize, 1);
        window = new bool[windowSize];
        this.z = z;
    }

    /// <summary>α + z·√(α(1 − α)/W).</summary>
    public static double AlarmRate(double alpha, int window, double z) => alpha + (z * Math.Sqrt(alpha * (1 - alpha) / window));

    /// <summary>Empties the window for a new gate with target false-positive rate <paramref name="targetFalsePositiveRate"/>.</summary>
    public void Reset(double targetFalsePositiveRate)
    {
        lock (gate)
        {
            Array.Clear(window);
            next = filled = outCount = 0;
            alpha = targetFalsePositiveRate;
        }
    }

    public void Add(bool outOfDistribution)
    {
        lock (gate)
        {
            if (filled == window.Length)
            {
                outCount -= window[next] ? 1 : 0;
            }
            else
            {
                filled++;
            }

            window[next] = outOfDistribution;
            outCount += outOfDistribution ? 1 : 0;
            next = (next + 1) % window.Length;
        }
    }

    public DriftSnapshot Snapshot()
    {
        lock (gate)
        {
            return new DriftSnapshot(window.Length, filled, outCount, alpha, z);
        }
    }
}
