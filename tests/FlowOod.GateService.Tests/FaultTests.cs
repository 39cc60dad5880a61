using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

// The service (in this process, real Kestrel on 127.0.0.1) under faults: a trickled body, a bad gate file pushed.
[Collection(ServiceDefinition.Name)]
public sealed class FaultTests(ServiceFixture fixture, ITestOutputHelper output)
{
    // 1,000 B/s, four times Kestrel's minimum data rate, so only the whole-body deadline can stop it: 408 at about the
    // configured 2 s, then the connection closes (without the deadline the 100,000-byte body would take 100 s).
    [Fact]
    public async Task Classify_BodyTrickledAboveTheMinimumDataRate_Gets408AtTheDeadline_AndTheConnectionCloses()
    {
        await using var service = await fixture.StartAsync("--FlowOod:Gate:RequestBodyTimeout", "00:00:02");
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, service.Client.BaseAddress!.Port));
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"), SocketFlags.None);

        var clock = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var answer = new MemoryStream();
        double answeredAfter = double.NaN;
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[4096];
            try
            {
                int n;
                while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token)) > 0)
                {
                    if (answer.Length == 0)
                    {
                        answeredAfter = clock.Elapsed.TotalSeconds;
                    }

                    answer.Write(buffer, 0, n);
                }
            }
            catch (SocketException)
            {
                // reset after the answer: closed as well
            }
            catch (OperationCanceledException)
            {
                return false;   // still open at the limit
            }

            return true;        // closed by the server
        });

        var chunk = new byte[100];
        while (!reading.IsCompleted && !limit.IsCancellationRequested)
        {
            try
            {
                await socket.SendAsync(chunk, SocketFlags.None);
            }
            catch (SocketException)
            {
                break;          // the server closed the connection
            }

            await Task.Delay(100);
        }

        bool closed = await reading;
        var text = Encoding.UTF8.GetString(answer.ToArray());
        output.WriteLine($"answer after {answeredAfter:F2} s, closed {closed} at {clock.Elapsed.TotalSeconds:F2} s:\n{text}");
        text.Should().StartWith("HTTP/1.1 408", "the body was not complete within RequestBodyTimeout");
        text.Should().Contain("RequestBodyTimeout").And.Contain("Connection: close");
        closed.Should().BeTrue("the rest of the body is never read, so the connection closes");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15));
        answeredAfter.Should().BeGreaterThanOrEqualTo(1.9, "not before the deadline");
    }

    // A damaged gate file pushed in place: the reload is refused, the last good gate keeps serving the same answers,
    // and readiness says Degraded with 200 (not 503, which would take every replica out of service); liveness is 200.
    [Fact]
    public async Task Health_AfterABadGateFileIsPushed_IsDegradedWith200_WhileTheLastGoodGateServes()
    {
        var models = Directory.CreateTempSubdirectory("flowood-badpush-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(fixture.Models))
            {
                File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
            }

            await using var service = await fixture.StartAsync("--models", models, "--FlowOod:Gate:ReloadCheckInterval", "00:00:00.200");
            var raw = ServiceFixture.Raw(fixture.FashionTest, 3);
            var before = await service.PostAsync(raw, "application/octet-stream");

            var gatePath = Path.Combine(models, "gate.flowood");
            var bytes = await File.ReadAllBytesAsync(gatePath);
            bytes[bytes.Length / 2] ^= 0x5A;
            await File.WriteAllBytesAsync(gatePath + ".new", bytes);
            File.Move(gatePath + ".new", gatePath, overwrite: true);

            int status = 0;
            JsonElement health = default;
            for (int attempt = 0; attempt < 100; attempt++)
            {
                await Task.Delay(100);
                using var response = await service.Client.GetAsync("/health");
                status = (int)response.StatusCode;
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                health = json.RootElement.Clone();
                if (health.GetProperty("status").GetString() != "Healthy")
                {
                    break;
                }
            }

            output.WriteLine($"{status} {health}");
            status.Should().Be(200, "the service still serves: a readiness probe must keep it");
            health.GetProperty("status").GetString().Should().Be("Degraded");
            var check = health.GetProperty("checks").GetProperty("flowood-gate");
            check.GetProperty("data").GetProperty("fileError").GetString().Should().Contain(gatePath);
            check.GetProperty("data").GetProperty("generation").GetInt64().Should().Be(1);
            check.GetProperty("description").GetString().Should().Contain("still serves");

            var after = await service.PostAsync(raw, "application/octet-stream");
            after.Status.Should().Be(before.Status);
            after.Text.Should().Be(before.Text, "the last good gate answers as before");
            using var live = await service.Client.GetAsync("/health/live");
            ((int)live.StatusCode).Should().Be(200);
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }
}
