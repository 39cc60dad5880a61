using System;
using FluentAssertions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class DriftMonitorTests
{
    [Fact]
    public void AlarmRate_IsAlphaPlusZStandardErrors() =>
        DriftMonitor.AlarmRate(0.05, 1000, 3.09).Should().BeApproximately(0.05 + (3.09 * Math.Sqrt(0.05 * 0.95 / 1000)), 1e-15)
            .And.BeApproximately(0.07130, 1e-5);

    [Fact]
    public void Snapshot_WarmsUpThenSlidesOverTheLastW()
    {
        var drift = new DriftMonitor(100, 3.09);
        drift.Reset(0.05);
        for (int i = 0; i < 99; i++)
        {
            drift.Add(true);
        }

        drift.Snapshot().IsWarmingUp.Should().BeTrue();
        drift.Snapshot().IsDrifting.Should().BeFalse();
        drift.Add(true);
        drift.Snapshot().Should().Match<DriftSnapshot>(s => s.IsDrifting && s.Rate == 1 && s.Decisions == 100);
        for (int i = 0; i < 95; i++)
        {
            drift.Add(false);
        }

        drift.Snapshot().OutOfDistribution.Should().Be(5);          // the 95 oldest OOD verdicts left the window
        drift.Snapshot().IsDrifting.Should().BeFalse();
        drift.Reset(0.1);
        drift.Snapshot().Should().Be(new DriftSnapshot(100, 0, 0, 0.1, 3.09));
    }

    [Fact]
    public void Alarm_UnderInDistributionTraffic_IsRare_AndUnderDriftIsCertain()
    {
        // Simulated Binomial(W, α) windows: the false-alarm rate per check stays near 1 − Φ(3.09) ≈ 0.001.
        var random = new Random(7);
        int alarms = 0, checks = 4000;
        for (int c = 0; c < checks; c++)
        {
            var drift = new DriftMonitor(1000, 3.09);
            drift.Reset(0.05);
            for (int i = 0; i < 1000; i++)
            {
                drift.Add(random.NextDouble() < 0.05);
            }

            alarms += drift.Snapshot().IsDrifting ? 1 : 0;
        }

        ((double)alarms / checks).Should().BeLessThan(0.005);

        var drifted = new DriftMonitor(1000, 3.09);
        drifted.Reset(0.05);
        for (int i = 0; i < 1000; i++)
        {
            drifted.Add(random.NextDouble() < 0.10);                // twice the calibrated rate
        }

        drifted.Snapshot().IsDrifting.Should().BeTrue();
    }
}
