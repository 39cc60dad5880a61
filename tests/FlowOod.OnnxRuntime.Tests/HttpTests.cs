using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.AspNetCore;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FlowOod.OnnxRuntime.Tests;

// The ONNX classifier behind HTTP: AddFlowOodGate whose ClassifierFactory loads the ONNX model, a real Kestrel on loopback.
public sealed class HttpTests(GateFixture fixture) : IClassFixture<GateFixture>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-onnx-http-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task Classify_OverAnOnnxClassifier_AnswersLikeTheGate_AndRefusesOod()
    {
        var gatePath = Path.Combine(folder, "gate.flowood");
        var modelPath = Path.Combine(folder, "model.onnx");
        fixture.Gate.Save(gatePath);
        await File.WriteAllBytesAsync(modelPath, fixture.ModelA, TestContext.Current.CancellationToken);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddFlowOodGate(o =>
        {
            o.GatePath = gatePath;
            // Called once at start; the service owns the classifier and disposes it (and its ONNX Runtime session) on stop.
            o.ClassifierFactory = _ => OnnxClassifier.Load(modelPath, new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        });
        await using var app = builder.Build();
        app.MapFlowOodClassify();
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };

        async Task<(HttpStatusCode Status, JsonDocument Body)> Send(byte[] pixels)
        {
            using var content = new ByteArrayContent(pixels);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await client.PostAsync("/classify", content);
            return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()));
        }

        // Raw bytes are pixels / 255: a dark image (bytes < 77, like the in-distribution data) and a white one.
        var random = new Random(5);
        var dark = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Send(Enumerable.Range(0, 16).Select(_ => (byte)random.Next(0, 77)).ToArray())));
        var white = await Send(Enumerable.Repeat((byte)255, 16).ToArray());

        dark.Count(r => r.Status == HttpStatusCode.OK).Should().BeGreaterThan(30, "about 95% of in-distribution inputs pass at α = 0.05");
        dark.Should().OnlyContain(r => r.Status == HttpStatusCode.OK || r.Status == HttpStatusCode.UnprocessableEntity);
        white.Status.Should().Be(HttpStatusCode.UnprocessableEntity);
        var accepted = dark.First(r => r.Status == HttpStatusCode.OK).Body.RootElement;
        accepted.GetProperty("labelName").GetString().Should().BeOneOf("a", "b", "c");
        app.Services.GetRequiredService<IOodGateClassifier>().Gate.Threshold.Should().Be(fixture.Gate.Threshold);
        foreach (var (_, body) in dark)
        {
            body.Dispose();
        }

        white.Body.Dispose();
        await app.StopAsync(TestContext.Current.CancellationToken);
    }
}
