using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.Models;
using FlowOod.Scoring;
using FlowOod.Training;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.AspNetCore.Tests;

// The shipped path end to end: a tiny classifier, a real OodGate fitted on random dark 1x4x4 images, a real Kestrel.
public sealed class RealGateHttpTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-realgate-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static nn.Module<Tensor, Tensor> Classifier()
    {
        random.manual_seed(1);
        var model = nn.Sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(16, 8)), ("relu", nn.ReLU()), ("head", nn.Linear(8, 3)));
        model.eval();
        return model;
    }

    private static string FitGate(nn.Module<Tensor, Tensor> classifier, string path)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        using var dark = 0.3f.ToScalar(); // kept alive through the call (FlowOod's docs/design.md, "Scalars")
        var data = rand([400, 1, 4, 4], generator: generator).mul_(dark);     // in-distribution: dark images
        using var gate = OodGate.Fit(classifier, data, new OodGateOptions
        {
            FeatureLayer = "fc1",
            TargetFalsePositiveRate = 0.05,
            ClassNames = ["a", "b", "c"],
            FeatureFlow = new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 2, HiddenWidth = 16 },
                Training = new TrainingOptions { Steps = 60, BatchSize = 64, Seed = 1 },
            },
        });
        gate.Save(path);
        return path;
    }

    [Fact]
    public async Task Service_OverARealGate_AcceptsInDistribution_RefusesOod_AndHealthTurnsDegraded()
    {
        using var classifier = Classifier();
        var path = FitGate(classifier, Path.Combine(folder, "gate.flowood"));
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<nn.Module<Tensor, Tensor>>(classifier);   // the container's: the service never disposes it
        builder.Services.AddFlowOodGate(o =>
        {
            o.GatePath = path;
            o.DriftWindow = 40;
        });
        await using var app = builder.Build();
        app.MapFlowOodClassify();
        app.MapHealthChecks("/health");
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };

        var random = new Random(5);
        async Task<HttpStatusCode> Send(byte[] pixels)
        {
            using var content = new ByteArrayContent(pixels);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await client.PostAsync("/classify", content);
            return response.StatusCode;
        }

        var inDist = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => Send(Enumerable.Range(0, 16).Select(_ => (byte)random.Next(0, 77)).ToArray())));
        inDist.Count(s => s == HttpStatusCode.OK).Should().BeGreaterThan(45, "about 95% of in-distribution inputs pass at α = 0.05");
        inDist.Should().OnlyContain(s => s == HttpStatusCode.OK || s == HttpStatusCode.UnprocessableEntity);
        // The plain MapHealthChecks("/health") answers JSON with the drift data (AddFlowOodGate's default writer).
        using (var healthy = JsonDocument.Parse(await client.GetStringAsync("/health")))
        {
            healthy.RootElement.GetProperty("status").GetString().Should().Be("Healthy");
            var gate = healthy.RootElement.GetProperty("checks").GetProperty("flowood-gate");
            gate.GetProperty("status").GetString().Should().Be("Healthy");
            gate.GetProperty("data").GetProperty("alpha").GetDouble().Should().Be(0.05);
            gate.GetProperty("data").GetProperty("window").GetInt32().Should().Be(40);
            gate.GetProperty("data").GetProperty("decisions").GetInt32().Should().Be(40, "the window holds the last W = 40 of the 60 decisions");
        }

        var ood = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Send(Enumerable.Repeat((byte)255, 16).ToArray())));
        ood.Should().OnlyContain(s => s == HttpStatusCode.UnprocessableEntity);
        using var health = await client.GetAsync("/health");
        health.StatusCode.Should().Be(HttpStatusCode.OK, "Degraded still serves");
        health.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        using (var degraded = JsonDocument.Parse(await health.Content.ReadAsStringAsync()))
        {
            degraded.RootElement.GetProperty("status").GetString().Should().Be("Degraded");
            var data = degraded.RootElement.GetProperty("checks").GetProperty("flowood-gate").GetProperty("data");
            data.GetProperty("oodRate").GetDouble().Should().BeGreaterThan(data.GetProperty("alarmRate").GetDouble());
        }

        var runtime = app.Services.GetRequiredService<IOodGateClassifier>();
        runtime.Gate.InputShape.Should().Equal(1, 4, 4);
        runtime.Gate.ClassNames.Should().Equal("a", "b", "c");
        await app.StopAsync();
    }
}
