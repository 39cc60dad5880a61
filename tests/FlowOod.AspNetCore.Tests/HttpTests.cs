using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Scoring;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

// The HTTP surface over a real Kestrel on 127.0.0.1 (port 0), with the managed fake gate behind the real batcher.
// The fake takes [1, 2, 2] inputs: label = value 0 · 255, refused when value 1 > 0.5.
public sealed class HttpTests : IAsyncLifetime
{
    private readonly string folder = Directory.CreateTempSubdirectory("flowood-http-").FullName;
    private WebApplication? app;
    private HttpClient? client;

    public async ValueTask InitializeAsync()
    {
        var path = Path.Combine(folder, "gate.txt");
        await File.WriteAllTextAsync(path, "threshold=1");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddFlowOodGate(o =>
        {
            o.GatePath = path;
            o.MaxRequestBytes = 4096;
            o.ClassifierFactory = _ => throw new InvalidOperationException("replaced by the fake loader");
        });
        builder.Services.AddSingleton(sp => new GateRuntime(sp.GetRequiredService<IOptions<FlowOodGateOptions>>().Value, () => new FakeLoader(), sp.GetRequiredService<ILoggerFactory>()));
        app = builder.Build();
        app.MapFlowOodClassify("/classify");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        client = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async ValueTask DisposeAsync()
    {
        client?.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        Directory.Delete(folder, recursive: true);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body, string? Type)> Post(byte[] body, string? contentType)
    {
        using var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await client!.PostAsync("/classify", content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Classify_AcceptedAndRefusedInputs_Give200And422()
    {
        var (status, body, _) = await Post([7, 0, 0, 0], "application/octet-stream");
        status.Should().Be(HttpStatusCode.OK);
        body.GetProperty("label").GetInt32().Should().Be(7);
        body.GetProperty("labelName").GetString().Should().Be("7");
        body.GetProperty("ood").GetBoolean().Should().BeFalse();
        body.GetProperty("probabilities").GetArrayLength().Should().Be(2);
        body.GetProperty("pValue").GetDouble().Should().Be(0.5);
        body.GetProperty("threshold").GetDouble().Should().Be(1);

        (status, body, _) = await Post("{\"image\":[[9,255],[0,0]]}"u8.ToArray(), "application/json");
        status.Should().Be(HttpStatusCode.UnprocessableEntity);
        body.GetProperty("ood").GetBoolean().Should().BeTrue();
        body.GetProperty("reason").GetString().Should().Contain("out of distribution");
        body.GetProperty("pValue").GetDouble().Should().Be(0.01);
        body.TryGetProperty("label", out _).Should().BeFalse();

        var png = new PngCompressor().Encode([5, 0, 0, 0], 1, 2, 2);
        (status, body, _) = await Post(png, "image/png");
        status.Should().Be(HttpStatusCode.OK);
        body.GetProperty("label").GetInt32().Should().Be(5);
    }

    [Fact]
    public async Task Classify_BadInputs_Give400413415WithAProblemMessage()
    {
        var cases = new (byte[] Body, string? Type, HttpStatusCode Status, string Detail)[]
        {
            ([], "application/octet-stream", HttpStatusCode.BadRequest, "empty"),
            ([1, 2, 3], "application/octet-stream", HttpStatusCode.BadRequest, "exactly 4"),
            (new PngCompressor().Encode(new byte[16], 1, 4, 4), "image/png", HttpStatusCode.BadRequest, "this gate takes 2x2"),
            (new PngCompressor().Encode(new byte[4], 1, 2, 2)[..30], "image/png", HttpStatusCode.BadRequest, "truncated"),
            (TestPng.File(TestPng.Ihdr(1 << 30, 1 << 30), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[10])), TestPng.Chunk("IEND", [])), "image/png", HttpStatusCode.BadRequest, "this gate takes 2x2"),
            (new PngCompressor().Encode(new byte[12], 3, 2, 2), "image/png", HttpStatusCode.UnsupportedMediaType, "channel"),
            (TestPng.File(TestPng.Ihdr(2, 2, interlace: 1), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[6])), TestPng.Chunk("IEND", [])), "image/png", HttpStatusCode.UnsupportedMediaType, "Interlaced"),
            ("{\"pixels\":[1,2,3,NaN]}"u8.ToArray(), "application/json", HttpStatusCode.BadRequest, "malformed"),
            ("{\"pixels\":[1,2,3,\"Infinity\"]}"u8.ToArray(), "application/json", HttpStatusCode.BadRequest, "not a number"),
            ("{\"pixels\":[1,2,3,300]}"u8.ToArray(), "application/json", HttpStatusCode.BadRequest, "outside 0..255"),
            ("{\"pixels\":[1,2,3"u8.ToArray(), "application/json", HttpStatusCode.BadRequest, "malformed"),
            ([1, 2, 3, 4], "text/plain", HttpStatusCode.UnsupportedMediaType, "not supported"),
            ([1, 2, 3, 4], null, HttpStatusCode.UnsupportedMediaType, "no Content-Type"),
            (new byte[5000], "application/octet-stream", HttpStatusCode.RequestEntityTooLarge, "at most 4096"),
        };
        foreach (var (body, type, expected, detail) in cases)
        {
            var (status, problem, mediaType) = await Post(body, type);
            status.Should().Be(expected, detail);
            mediaType.Should().Be("application/problem+json");
            problem.GetProperty("status").GetInt32().Should().Be((int)expected);
            problem.GetProperty("detail").GetString().Should().Contain(detail);
        }
    }

    [Fact]
    public async Task Classify_ChunkedBodyOverTheLimit_Is413WhileReading()
    {
        using var content = new PushStreamContent(new byte[100_000]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client!.PostAsync("/classify", content);
        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await response.Content.ReadAsStringAsync()).Should().Contain("larger than the 4096 bytes");
    }

    // Sends its bytes without a Content-Length (chunked), so only the read loop can enforce the limit.
    private sealed class PushStreamContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            try
            {
                for (int i = 0; i < bytes.Length; i += 1000)
                {
                    await stream.WriteAsync(bytes.AsMemory(i, 1000));
                }
            }
            catch (IOException)
            {
                // the server answered 413 and closed the request body
            }
            catch (HttpRequestException)
            {
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
