using System;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using FlowOod.Samples.GateService;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

[CollectionDefinition(Name)]
public sealed class ServiceDefinition : ICollectionFixture<ServiceFixture>
{
    public const string Name = "gate service";
}

// The service's models trained once (the sample's default settings, ~20 s) into a temporary folder, and the images
// the tests send: Fashion-MNIST test images (in-distribution, never used for training or calibration) and MNIST digits.
public sealed class ServiceFixture : IDisposable
{
    public const int ImageBytes = 28 * 28;

    public ServiceFixture()
    {
        Models = Directory.CreateTempSubdirectory("flowood-gate-service-").FullName;
        var settings = new GateServiceSettings { Models = Models };
        GateModels.EnsureTrained(settings, NullLogger.Instance).Should().BeTrue();
        Alpha = settings.Alpha;
        FashionTest = FlowOodDatasets.FashionMnist(DatasetSplit.Test);
        Mnist = FlowOodDatasets.Mnist(DatasetSplit.Test);
    }

    public string Models { get; }

    public double Alpha { get; }

    public ImageDataset FashionTest { get; }

    public ImageDataset Mnist { get; }

    public static byte[] Raw(ImageDataset data, int index) => data.Pixels.Slice(index * ImageBytes, ImageBytes).ToArray();

    // Starts the service on a free loopback port (a real Kestrel) over this fixture's models.
    public async Task<RunningService> StartAsync(params string[] extra)
    {
        string[] args = ["--urls", "http://127.0.0.1:0", "--models", Models, "--metrics-interval", "0", .. extra];
        var app = GateServiceApp.Build(args, builder => builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Warning));
        try
        {
            await app.StartAsync();
            return new RunningService(app);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public void Dispose() => Directory.Delete(Models, recursive: true);
}

public sealed class RunningService : IAsyncDisposable
{
    private readonly WebApplication app;

    public RunningService(WebApplication app)
    {
        this.app = app;
        Client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => app.Services;

    public async Task<(int Status, JsonElement Body, string Text)> PostAsync(byte[] body, string? contentType)
    {
        using var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        return await SendAsync(content);
    }

    public async Task<(int Status, JsonElement Body, string Text)> SendAsync(HttpContent content)
    {
        using var response = await Client.PostAsync("/classify", content);
        var text = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(text);
        return ((int)response.StatusCode, json.RootElement.Clone(), text);
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var json = JsonDocument.Parse(await Client.GetStringAsync(path));
        return json.RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
