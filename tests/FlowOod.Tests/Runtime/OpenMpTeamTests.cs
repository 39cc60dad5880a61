using System;
using System.Threading;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Runtime;

// OpenMpTeam hands managed work to libtorch's own OpenMP threads (GOMP_parallel of the runtime libtorch loaded).
public sealed class OpenMpTeamTests
{
    public OpenMpTeamTests()
    {
        // libtorch (and with it its OpenMP runtime) is loaded by the first tensor.
        using var loaded = ones(1);
    }

    [Fact]
    public void TryFor_RunsEveryItemOnce_InsideAnOpenMpTeamOfTheGivenSize()
    {
        var runs = new int[1000];
        var teamSizes = new int[runs.Length];

        bool ran = OpenMpTeam.TryFor(runs.Length, 2, item =>
        {
            Interlocked.Increment(ref runs[item]);
            teamSizes[item] = OpenMp.TeamSize();
        });

        ran.Should().Be(OperatingSystem.IsLinux(), "libtorch's Linux build loads the GNU OpenMP runtime");
        if (ran)
        {
            OpenMpTeam.IsAvailable.Should().BeTrue();
            runs.Should().AllSatisfy(count => count.Should().Be(1));
            teamSizes.Should().AllSatisfy(size => size.Should().Be(2), "the items run inside GOMP_parallel's team of two");
        }
    }

    [Fact]
    public void TryFor_UsesTheTeamsOtherThread()
    {
        using var otherStarted = new ManualResetEventSlim();
        int caller = Environment.CurrentManagedThreadId;
        int[] threads = new int[2];

        // Whichever thread claims what: an item the caller claims waits until another thread has run one, so the caller
        // cannot run both; the other thread may run both when it claims first.
        bool ran = OpenMpTeam.TryFor(2, 2, item =>
        {
            threads[item] = Environment.CurrentManagedThreadId;
            if (Environment.CurrentManagedThreadId == caller)
            {
                otherStarted.Wait(TimeSpan.FromSeconds(30)).Should().BeTrue("the team's second thread takes an item");
            }
            else
            {
                otherStarted.Set();
            }
        });

        if (ran)
        {
            threads.Should().Contain(id => id != caller, "an item ran on the team's other thread");
        }
    }

    [Fact]
    public void AnExceptionInAnItem_IsRethrownToTheCaller()
    {
        int started = 0;
        Action act = () => OpenMpTeam.TryFor(10_000, 2, item =>
        {
            Interlocked.Increment(ref started);
            if (item == 3)
            {
                throw new InvalidOperationException("item 3 failed");
            }

            Thread.SpinWait(100);
        });

        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        act.Should().Throw<InvalidOperationException>().WithMessage("item 3 failed");
        started.Should().BeLessThan(10_000, "no item starts after one has failed");
    }

    [Fact]
    public void BadArguments_AreRefused()
    {
        FluentActions.Invoking(() => OpenMpTeam.TryFor(-1, 2, _ => { })).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        FluentActions.Invoking(() => OpenMpTeam.TryFor(1, 0, _ => { })).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("threads");
        FluentActions.Invoking(() => OpenMpTeam.TryFor(1, 1, null!)).Should().Throw<ArgumentNullException>().WithParameterName("body");
    }
}
