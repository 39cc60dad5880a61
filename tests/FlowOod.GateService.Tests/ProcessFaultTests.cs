using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

// The sample's own process under faults: SIGTERM under load, overload, damaged model files.
[Collection(ServiceDefinition.Name)]
public sealed partial class ProcessFaultTests(ServiceFixture fixture, ITestOutputHelper output)
{
    [GeneratedRegex(@"(\d+) requests refused with 503")]
    private static partial Regex RefusedCount();

    // SIGTERM while 32 keep-alive clients send: every request written on an open connection is answered; the clients
    // end because their next connect is refused (the listener closed first), never because a connection died under a
    // request. FLOWOOD_SIGTERM_RUNS sets the number of runs (3 here; the long manual check ran 20).
    [Fact]
    public async Task Sigterm_While32KeepAliveClientsSend_AnswersEveryRequestWritten()
    {
        int runs = int.TryParse(Environment.GetEnvironmentVariable("FLOWOOD_SIGTERM_RUNS"), CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 3;
        var request = RawHttpLoad.Post(ServiceFixture.Raw(fixture.FashionTest, 0));
        int lost = 0;
        for (int run = 0; run < runs; run++)
        {
            using var service = ServiceProcess.Start(fixture.Models, "--metrics-interval", "0");
            var url = await service.WaitUntilListeningAsync();
            var load = new RawHttpLoad();
            var clients = load.RunAsync(url, request, clients: 32, maxPerClient: 100_000, limit: TimeSpan.FromSeconds(90), CancellationToken.None);
            var warm = Stopwatch.StartNew();
            while (load.Answered < 300 && warm.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(20);
            }

            service.Terminate();
            var exit = await service.WaitForExitAsync(TimeSpan.FromSeconds(60));
            await clients.WaitAsync(TimeSpan.FromSeconds(120));
            output.WriteLine($"run {run + 1}: {load}; exit {exit}; {service.Lines.LastOrDefault(l => l.Contains("Drain done", StringComparison.Ordinal))?.Trim()}");
            lost += load.Lost;
            exit.Should().Be(0, "SIGTERM stops the service normally");
            load.Answered.Should().BeGreaterThanOrEqualTo(300);
            load.Refused.Should().Be(32, "every client ends at a refused connect, after an answer that said Connection: close");
            load.Count(200).Should().BeGreaterThan(0);
        }

        lost.Should().Be(0, "no request written on an open connection may go unanswered");
    }

    // 64 clients against a queue of 1 for a few seconds: thousands of 503s, a handful of log lines, each with a count,
    // the counts adding up to the 503s the clients saw.
    [Fact]
    public async Task Overload_RefusalsAreLoggedAsCounts_AtMostOneLinePerInterval()
    {
        using var service = ServiceProcess.Start(fixture.Models, "--metrics-interval", "0", "--FlowOod:Gate:MaxQueueLength", "1", "--FlowOod:Gate:MaxBatchSize", "1");
        var url = await service.WaitUntilListeningAsync();
        int before = service.Lines.Count;
        var load = new RawHttpLoad();
        var clock = Stopwatch.StartNew();
        await load.RunAsync(url, RawHttpLoad.Post(ServiceFixture.Raw(fixture.FashionTest, 1)), clients: 64, maxPerClient: 5_000, limit: TimeSpan.FromSeconds(5), CancellationToken.None);
        var seconds = clock.Elapsed.TotalSeconds;
        service.Terminate();
        (await service.WaitForExitAsync(TimeSpan.FromSeconds(60))).Should().Be(0);

        var lines = service.Lines.Skip(before).ToList();
        var counts = lines.Select(l => RefusedCount().Match(l)).Where(m => m.Success).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        output.WriteLine($"{load} in {seconds:F1} s; {lines.Count} log lines, refusal lines {counts.Count}: {string.Join(", ", counts)}");
        load.Count(503).Should().BeGreaterThan(100, "64 clients overload a queue of 1");
        load.Lost.Should().Be(0);
        counts.Count.Should().BeInRange(1, 2 + (int)Math.Ceiling(seconds / 10), "one line at the first refusal, at most one per 10 s after, one at the stop");
        counts.Sum().Should().Be(load.Count(503), "the lines count every refusal");
        lines.Count.Should().BeLessThan(40, "the log volume does not grow with the number of refused requests");
    }

    // A damaged classifier or gate file: exit code 3 and one line on standard error naming the file and what to do.
    [Theory]
    [InlineData("classifier.dat")]
    [InlineData("gate.flowood")]
    public async Task Start_WithADamagedModelFile_ExitsWithOneLineNamingTheFile(string file)
    {
        var models = Directory.CreateTempSubdirectory("flowood-damaged-").FullName;
        try
        {
            foreach (var path in Directory.GetFiles(fixture.Models))
            {
                File.Copy(path, Path.Combine(models, Path.GetFileName(path)));
            }

            var damaged = Path.Combine(models, file);
            var bytes = File.ReadAllBytes(damaged);
            if (file.EndsWith(".dat", StringComparison.Ordinal))
            {
                File.WriteAllBytes(damaged, bytes[..(bytes.Length / 2)]);   // truncated
            }
            else
            {
                bytes[bytes.Length / 2] ^= 0x5A;                            // one byte flipped: the checksum fails
                File.WriteAllBytes(damaged, bytes);
            }

            using var service = ServiceProcess.Start(models, "--metrics-interval", "0");
            var exit = await service.WaitForExitAsync(TimeSpan.FromSeconds(120));
            foreach (var line in service.Lines)
            {
                output.WriteLine(line);
            }

            exit.Should().Be(3, "a damaged model file is refused with the documented exit code, not a crash");
            var errors = service.Lines.Where(l => l.StartsWith("stderr: ", StringComparison.Ordinal)).ToList();
            errors.Should().ContainSingle();
            errors[0].Should().Contain(damaged).And.Contain("--retrain true").And.Contain("Restore it");
            service.Lines.Should().NotContain(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal), "no stack trace");
            File.ReadAllBytes(damaged).Should().Equal(file.EndsWith(".dat", StringComparison.Ordinal) ? bytes[..(bytes.Length / 2)] : bytes, "the service never replaces a damaged file on its own");
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }
}
