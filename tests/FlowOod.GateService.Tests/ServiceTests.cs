using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.AspNetCore.Tests;
using FlowOod.Gating;
using FlowOod.Samples.GateService;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

// The sample service over real HTTP on 127.0.0.1 (Kestrel on a free port), with the models the fixture trained.
[Collection(ServiceDefinition.Name)]
public sealed class ServiceTests(ServiceFixture fixture, ITestOutputHelper output)
{
    private const string OctetStream = "application/octet-stream";

    // Runs call(i) for i in [0, count) with `clients` requests in flight at a time; results by index.
    private static async Task<T[]> Concurrently<T>(int count, int clients, Func<int, Task<T>> call)
    {
        var results = new T[count];
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                results[i] = await call(i);
            }
        }));
        return results;
    }

    [Fact]
    public async Task Classify_FashionMnistTestImages_AcceptedAtOneMinusAlpha_MnistDigitsMostlyRefused()
    {
        await using var service = await fixture.StartAsync();
        const int Count = 2000;
        var fashion = await Concurrently(Count, 8, i => service.PostAsync(ServiceFixture.Raw(fixture.FashionTest, i), OctetStream));
        var mnist = await Concurrently(Count, 8, i => service.PostAsync(ServiceFixture.Raw(fixture.Mnist, i), OctetStream));

        fashion.Concat(mnist).Select(r => r.Status).Should().OnlyContain(s => s == 200 || s == 422);
        double fashionRefused = fashion.Count(r => r.Status == 422) / (double)Count;
        double mnistRefused = mnist.Count(r => r.Status == 422) / (double)Count;
        var accepted = Enumerable.Range(0, Count).Where(i => fashion[i].Status == 200).ToArray();
        double accuracy = accepted.Count(i => fashion[i].Body.GetProperty("label").GetInt32() == fixture.FashionTest.Labels.Span[i]) / (double)accepted.Length;
        output.WriteLine(FormattableString.Invariant(
            $"α = {fixture.Alpha}: Fashion-MNIST test refused {fashionRefused:P2} (accepted {1 - fashionRefused:P2}), MNIST refused {mnistRefused:P2}; accuracy on accepted Fashion-MNIST {accuracy:P1}"));

        // Calibrated on held-out training images: the refusal rate on unseen test images is α up to sampling noise
        // (σ = √(α(1 − α)/n) ≈ 0.5 points at n = 2000) and the train/test shift.
        fashionRefused.Should().BeApproximately(fixture.Alpha, 0.03);
        mnistRefused.Should().BeGreaterThan(0.9, "the feature-space flow on the classifier's embedding separates digits from clothing");
        accuracy.Should().BeGreaterThan(0.8);
        foreach (var (status, body, _) in fashion.Take(50).Concat(mnist.Take(50)))
        {
            double p = body.GetProperty("pValue").GetDouble();
            double score = body.GetProperty("score").GetDouble();
            double threshold = body.GetProperty("threshold").GetDouble();
            (status == 422).Should().Be(p <= fixture.Alpha, "refused exactly when p ≤ α");
            (score > threshold).Should().Be(status == 422);
            if (status == 200)
            {
                var probabilities = body.GetProperty("probabilities").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                probabilities.Should().HaveCount(10);
                probabilities.Sum().Should().BeApproximately(1, 1e-4);
                body.GetProperty("labelName").GetString().Should().Be(GateModels.ClassNames[body.GetProperty("label").GetInt32()]);
            }
            else
            {
                body.GetProperty("reason").GetString().Should().Contain("out of distribution");
                body.TryGetProperty("label", out _).Should().BeFalse("a refused input gets no label");
            }
        }
    }

    [Fact]
    public async Task Classify_SameImageAsPngRawAndJson_GivesTheSameAnswer_AlsoUnderConcurrency()
    {
        await using var service = await fixture.StartAsync();
        for (int index = 0; index < 4; index++)
        {
            var data = index % 2 == 0 ? fixture.FashionTest : fixture.Mnist;
            var raw = ServiceFixture.Raw(data, index);
            var png = TestPng.Image(raw, 28, 28, colourType: 0, filterOf: y => (byte)(y % 5));
            var pixels = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { pixels = raw.Select(b => (int)b) }));
            var rows = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { image = raw.Chunk(28).Select(r => r.Select(b => (int)b)) }));

            var serial = await service.PostAsync(raw, OctetStream);
            var answers = await Concurrently(32, 8, i => (i % 4) switch
            {
                0 => service.PostAsync(raw, OctetStream),
                1 => service.PostAsync(png, "image/png"),
                2 => service.PostAsync(pixels, "application/json"),
                _ => service.PostAsync(rows, "application/json; charset=utf-8"),
            });
            answers.Should().OnlyContain(a => a.Status == serial.Status && a.Text == serial.Text, "micro-batching and the input format never change an answer");
        }
    }

    [Fact]
    public async Task Health_FedOnlyMnistForAWindow_TurnsDegraded_AndIsHealthyUnderFashionMnist()
    {
        const int Window = 200;
        await using var service = await fixture.StartAsync("--FlowOod:Gate:DriftWindow", Window.ToString(CultureInfo.InvariantCulture));
        (await Status(service)).Should().Be("Healthy");

        await Concurrently(Window, 8, i => service.PostAsync(ServiceFixture.Raw(fixture.FashionTest, 5000 + i), OctetStream));
        var health = await service.GetJsonAsync("/health");
        output.WriteLine($"after {Window} Fashion-MNIST: {health}");
        health.GetProperty("status").GetString().Should().Be("Healthy");

        await Concurrently(Window, 8, i => service.PostAsync(ServiceFixture.Raw(fixture.Mnist, 5000 + i), OctetStream));
        health = await service.GetJsonAsync("/health");
        output.WriteLine($"after {Window} MNIST: {health}");
        health.GetProperty("status").GetString().Should().Be("Degraded");
        var data = health.GetProperty("checks").GetProperty("flowood-gate").GetProperty("data");
        data.GetProperty("oodRate").GetDouble().Should().BeGreaterThan(data.GetProperty("alarmRate").GetDouble());
        data.GetProperty("window").GetInt32().Should().Be(Window);
    }

    [Fact]
    public async Task HotReload_NewGateFileRenamedInPlace_IsServedWithoutFailingARequest()
    {
        // A service of its own over a copy of the models, so the shared gate file is never replaced.
        var models = Directory.CreateTempSubdirectory("flowood-gate-reload-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(fixture.Models))
            {
                File.Copy(file, Path.Combine(models, Path.GetFileName(file)));
            }

            await using var service = await fixture.StartAsync("--models", models, "--FlowOod:Gate:ReloadCheckInterval", "00:00:00.200");
            var before = (await service.GetJsonAsync("/")).GetProperty("gate");
            before.GetProperty("generation").GetInt64().Should().Be(1);

            using var stop = new CancellationTokenSource();
            var statuses = new List<int>();
            var traffic = Task.Run(async () =>
            {
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    var (status, _, _) = await service.PostAsync(ServiceFixture.Raw(fixture.FashionTest, i % 1000), OctetStream);
                    lock (statuses)
                    {
                        statuses.Add(status);
                    }
                }
            });

            // The same gate at α = 0.2, written next to the served file and renamed over it.
            var gatePath = Path.Combine(models, "gate.flowood");
            using (var classifier = GateModels.LoadClassifier(Path.Combine(models, "classifier.dat")))
            using (var gate = OodGate.Load(gatePath, classifier, new GateLoadOptions { TargetFalsePositiveRate = 0.2 }))
            {
                gate.Save(gatePath + ".new");
            }

            File.Move(gatePath + ".new", gatePath, overwrite: true);
            JsonElement after = before;
            for (int attempt = 0; attempt < 150 && after.GetProperty("generation").GetInt64() == 1; attempt++)
            {
                await Task.Delay(100);
                after = (await service.GetJsonAsync("/")).GetProperty("gate");
            }

            await Task.Delay(300);
            await stop.CancelAsync();
            await traffic;

            after.GetProperty("generation").GetInt64().Should().Be(2, "the renamed file is picked up");
            after.GetProperty("alpha").GetDouble().Should().Be(0.2);
            after.GetProperty("threshold").GetDouble().Should().BeLessThan(before.GetProperty("threshold").GetDouble(), "a larger α lowers the threshold");
            statuses.Should().NotBeEmpty().And.OnlyContain(s => s == 200 || s == 422, "requests in flight during the swap finish");
            var (_, body, _) = await service.PostAsync(ServiceFixture.Raw(fixture.FashionTest, 0), OctetStream);
            body.GetProperty("threshold").GetDouble().Should().Be(after.GetProperty("threshold").GetDouble());
            (await Status(service)).Should().Be("Healthy");
        }
        finally
        {
            Directory.Delete(models, recursive: true);
        }
    }

    private static async Task<string?> Status(RunningService service) => (await service.GetJsonAsync("/health")).GetProperty("status").GetString();
}
