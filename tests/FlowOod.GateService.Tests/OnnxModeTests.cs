using System;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.OnnxRuntime;
using FlowOod.Samples.GateService;
using FlowOod.Tests.Shared;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.GateService.Tests;

/// <summary>
/// The gate service's ONNX mode: the files the service exports on first start (classifier.onnx, gate.onnx) give, with
/// ONNX Runtime alone, the TorchSharp gate's decisions, and the ONNX-mode app (FlowOod.Samples.GateService.Onnx) serves
/// them over HTTP without TorchSharp or libtorch among its dependencies.
/// </summary>
[Collection(ServiceDefinition.Name)]
public sealed class OnnxModeTests(ServiceFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void ExportedClassifierAndGate_GiveTheTorchSharpGatesDecisions()
    {
        var settings = new GateServiceSettings { Models = fixture.Models };
        using var classifier = GateModels.LoadClassifier(settings.ClassifierPath);
        using var gate = OodGate.Load(settings.GatePath, classifier);
        using var served = OnnxGate.Load(settings.OnnxClassifierPath, settings.OnnxGatePath);
        using var scope = NewDisposeScope();
        var images = cat([fixture.FashionTest.ToTensor(0, 300), fixture.Mnist.ToTensor(0, 200)], 0);

        var expected = gate.Classify(images);
        var actual = served.Classify(images.contiguous().data<float>().ToArray());

        // The classifier runs on different kernels (libtorch vs ONNX Runtime), so the features differ by float32
        // rounding and the scores by a little more than the flow alone would give.
        var difference = actual.Zip(expected, (a, e) => Math.Abs(a.Score - e.Score) / Math.Max(1.0, Math.Abs(e.Score) / 100)).Max();
        output.WriteLine($"max |Δscore| = {difference:E2} nats (relative beyond 100 nats); {actual.Count(d => d.IsOutOfDistribution)} refused of {actual.Length}");
        difference.Should().BeLessThan(1e-3);
        actual.Select(d => d.Label).Should().Equal(expected.Select(d => d.Label));
        DecisionAgreement.ShouldAgree(actual, expected, gate.Detector.CalibrationScores, "the ONNX mode must give the TorchSharp gate's verdicts");
        served.ClassNames.Should().Equal(gate.ClassNames);
        served.Threshold.Should().Be(gate.Threshold);
    }

    [Fact]
    public async Task OnnxModeApp_ClassifiesOverHttp()
    {
        var app = Samples.GateService.Onnx.Program.Build(["--urls", "http://127.0.0.1:0", "--models", fixture.Models, "--Logging:LogLevel:Default", "Warning"]);
        await using (app)
        {
            await app.StartAsync();
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
            using var content = new ByteArrayContent(ServiceFixture.Raw(fixture.FashionTest, 0));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");

            using var response = await client.PostAsync(new Uri("/classify", UriKind.Relative), content);
            using var bad = await client.PostAsync(new Uri("/classify", UriKind.Relative), new ByteArrayContent(new byte[10]));

            // The TorchSharp mode's contract: 200 with the label when accepted, 422 with the reason when refused as OOD.
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var ood = json.RootElement.GetProperty("ood").GetBoolean();
            ((int)response.StatusCode).Should().Be(ood ? 422 : 200);
            if (ood)
            {
                json.RootElement.GetProperty("reason").GetString().Should().StartWith("out of distribution");
            }
            else
            {
                json.RootElement.GetProperty("labelName").GetString().Should().BeOneOf(GateModels.ClassNames);
                json.RootElement.GetProperty("probabilities").GetArrayLength().Should().Be(10);
            }

            using var noise = new ByteArrayContent(Enumerable.Range(0, 784).Select(i => (byte)(i * 97 % 256)).ToArray());
            noise.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var refused = await client.PostAsync(new Uri("/classify", UriKind.Relative), noise);
            ((int)refused.StatusCode).Should().Be(422, "a scrambled image is far out of distribution, as in the TorchSharp mode");
            using var refusedJson = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            refusedJson.RootElement.GetProperty("ood").GetBoolean().Should().BeTrue();
            refusedJson.RootElement.TryGetProperty("label", out _).Should().BeFalse("a refused input's label is not trustworthy and is not sent");
            ((int)bad.StatusCode).Should().Be(400);
            await app.StopAsync();
        }
    }

    [Fact]
    public void OnnxModeApp_ResolvedDependencies_HaveNoTorchSharpOrLibtorch()
    {
        var assets = Path.Combine(Root(), "samples", "FlowOod.Samples.GateService.Onnx", "obj", "project.assets.json");
        using var document = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = document.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToArray();

        libraries.Should().Contain(l => l.StartsWith("Microsoft.ML.OnnxRuntime/", StringComparison.Ordinal));
        libraries.Where(l => l.Contains("torch", StringComparison.OrdinalIgnoreCase) || l.StartsWith("FlowOod/", StringComparison.Ordinal))
            .Should().BeEmpty("the ONNX mode's published folder must hold no libtorch file");
    }

    private static string Root()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "FlowOod.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("FlowOod.sln not found above " + AppContext.BaseDirectory);
    }
}
