using System;
using System.Diagnostics;
using System.IO;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

// The sample as `./build.sh serve` runs it: its own process, its own appsettings.json, Kestrel on the URL given with
// --urls, metrics on the console through the OpenTelemetry exporter.
[Collection(ServiceDefinition.Name)]
public sealed partial class ProcessTests(ServiceFixture fixture, ITestOutputHelper output)
{
    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task Sample_StartedAsAProcess_ServesClassifyAndHealth_AndExportsMetrics()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var arg in new[] { ServiceProcess.SampleAssembly(), "--urls", "http://127.0.0.1:0", "--models", fixture.Models, "--metrics-interval", "1", "--threads", "1" })
        {
            start.ArgumentList.Add(arg);
        }

        var lines = Channel.CreateUnbounded<string>();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Writer.TryWrite(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lines.Writer.TryWrite("stderr: " + e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            async Task<Match> WaitFor(Regex pattern)
            {
                while (true)
                {
                    var line = await lines.Reader.ReadAsync(timeout.Token);
                    output.WriteLine(line);
                    if (pattern.Match(line) is { Success: true } match)
                    {
                        return match;
                    }
                }
            }

            var url = (await WaitFor(Listening())).Groups[1].Value;
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            (await client.GetStringAsync("/health", timeout.Token)).Should().Contain("\"status\":\"Healthy\"");
            using var content = new ByteArrayContent(ServiceFixture.Raw(fixture.FashionTest, 0));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await client.PostAsync("/classify", content, timeout.Token);
            ((int)response.StatusCode).Should().BeOneOf(200, 422);
            (await response.Content.ReadAsStringAsync(timeout.Token)).Should().Contain("\"pValue\"");

            await WaitFor(new Regex("Metric Name: flowood\\.gate\\.decisions"));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
