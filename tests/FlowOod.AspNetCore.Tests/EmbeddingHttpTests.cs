using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Embeddings;
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
using Xunit;

namespace FlowOod.AspNetCore.Tests;

// A real embedding detector (D = 8, fitted on correlated Gaussian rows) served by a real Kestrel on loopback, with no
// gate registered: the embeddings service stands alone.
public sealed class EmbeddingServiceFixture : IAsyncLifetime
{
    public const int Dimension = 8;

    private readonly string folder = Directory.CreateTempSubdirectory("flowood-embeddings-").FullName;
    private WebApplication? app;

    public HttpClient Client { get; private set; } = null!;

    public EmbeddingDetector Library { get; private set; } = null!;

    public static float[][] Rows(int count, int seed, double shift = 0)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var z = Enumerable.Range(0, Dimension).Select(_ => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())).ToArray();
            return Enumerable.Range(0, Dimension).Select(k => (float)(z[k] + (k > 0 ? 0.5 * z[k - 1] : 0) + shift)).ToArray();
        }).ToArray();
    }

    public async ValueTask InitializeAsync()
    {
        FlowOodRuntime.EnsureAvailable();
        var path = Path.Combine(folder, "embeddings.flowood");
        using (var fitted = EmbeddingDetector.Fit(Rows(400, seed: 1), new EmbeddingDetectorOptions
        {
            CalibrationFraction = 0.5,
            FeatureFlow = new FeatureSpaceFitOptions
            {
                Flow = new TabularRealNvpOptions { Couplings = 4, HiddenWidth = 16 },
                Training = new TrainingOptions { Steps = 150, BatchSize = 64, Seed = 1 },
            },
        }))
        {
            fitted.Save(path);
        }

        Library = EmbeddingDetector.Load(path);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddFlowOodEmbeddingDetector(o =>
        {
            o.DetectorPath = path;
            o.MaxRequestBytes = 4096;
            o.MaxRowsPerRequest = 64;
            o.DriftWindow = 10;
            o.ReloadOnChange = false;
        });
        app = builder.Build();
        app.MapFlowOodEmbeddings();
        app.MapHealthChecks("/health");
        await app.StartAsync();
        Client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        Library?.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}

public sealed class EmbeddingHttpTests(EmbeddingServiceFixture service) : IClassFixture<EmbeddingServiceFixture>
{
    private HttpClient Client => service.Client;

    [Fact]
    public async Task OneRowAsJson_AnswersTheLibrarysVerdictScoreAndPValueExactly()
    {
        var row = EmbeddingServiceFixture.Rows(1, seed: 10)[0];
        using var response = await PostJson($"{{\"embedding\":[{Numbers(row)}]}}");

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var expected = service.Library.PredictOne(row);
        json.RootElement.GetProperty("ood").GetBoolean().Should().Be(expected.IsOutOfDistribution);
        json.RootElement.GetProperty("score").GetDouble().Should().Be(expected.Score);
        json.RootElement.GetProperty("pValue").GetDouble().Should().Be(expected.PValue);
        json.RootElement.GetProperty("threshold").GetDouble().Should().Be(service.Library.Threshold);
    }

    [Fact]
    public async Task RowsAsJsonAndAsFloat32Bytes_GiveTheSameAnswers_AndFlagShiftedRows()
    {
        var rows = EmbeddingServiceFixture.Rows(6, seed: 11).Concat(EmbeddingServiceFixture.Rows(3, seed: 12, shift: 4)).ToArray();
        var expected = service.Library.Predict(rows);

        using var json = await PostJson($"{{\"embeddings\":[{string.Join(",", rows.Select(r => $"[{Numbers(r)}]"))}]}}");
        json.StatusCode.Should().Be(HttpStatusCode.OK);
        var fromJson = Results(await json.Content.ReadAsStringAsync());

        var bytes = new byte[rows.Length * EmbeddingServiceFixture.Dimension * 4];
        for (int i = 0; i < rows.Length * EmbeddingServiceFixture.Dimension; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), rows[i / EmbeddingServiceFixture.Dimension][i % EmbeddingServiceFixture.Dimension]);
        }

        using var raw = await PostBytes(bytes, "application/octet-stream");
        raw.StatusCode.Should().Be(HttpStatusCode.OK);
        var fromBytes = Results(await raw.Content.ReadAsStringAsync());

        fromJson.Should().Equal(expected.Select(p => (p.IsOutOfDistribution, p.Score, p.PValue)));
        fromBytes.Should().Equal(fromJson);
        fromJson.TakeLast(3).Should().OnlyContain(r => r.Ood, "rows shifted by 4 in every coordinate are far out of distribution");
    }

    [Theory]
    [InlineData("{\"embedding\":[1,2,3]}", "*3 values*rows have 8*")]
    [InlineData("{\"embedding\":[1,2,3,4,5,6,7,8,9]}", "*more than the 8 values*")]
    [InlineData("{\"embedding\":[1,2,3,4,5,6,7,\"x\"]}", "*Row 0, value 7 is not a number*")]
    [InlineData("{\"embedding\":[1,2,3,4,5,6,7,1e39]}", "*Row 0, value 7 is not a finite float32*")]
    [InlineData("{\"embeddings\":[]}", "*no rows*")]
    [InlineData("{\"embeddings\":[[1,2,3,4,5,6,7,8],[1,2]]}", "*row 1 has 2 values*")]
    [InlineData("{\"rows\":[]}", "*unknown property 'rows'*")]
    [InlineData("{\"embedding\":[1,2,", "*malformed*")]
    [InlineData("", "*empty*")]
    public async Task BadJson_Is400_WithAProblemNamingIt(string body, string detail)
    {
        using var response = await PostJson(body);
        await ExpectProblem(response, HttpStatusCode.BadRequest, detail);
    }

    [Fact]
    public async Task BadBytesOrContentType_Are400Or415()
    {
        using (var ragged = await PostBytes(new byte[36], "application/octet-stream"))
        {
            await ExpectProblem(ragged, HttpStatusCode.BadRequest, "*36 bytes, not a multiple of 32*");
        }

        var nan = new byte[32];
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(12), float.NaN);
        using (var notFinite = await PostBytes(nan, "application/octet-stream"))
        {
            await ExpectProblem(notFinite, HttpStatusCode.BadRequest, "*Row 0, value 3 is NaN*");
        }

        using (var text = await PostBytes(Encoding.UTF8.GetBytes("1,2,3"), "text/plain"))
        {
            await ExpectProblem(text, HttpStatusCode.UnsupportedMediaType, "*not supported*");
        }

        using (var png = await PostBytes([0x89, 0x50], "image/png"))
        {
            await ExpectProblem(png, HttpStatusCode.UnsupportedMediaType, "*application/json or application/octet-stream*");
        }
    }

    [Fact]
    public async Task TooLargeBodyOrTooManyRows_Is413()
    {
        using (var large = await PostBytes(new byte[4096 + 32], "application/octet-stream"))
        {
            await ExpectProblem(large, HttpStatusCode.RequestEntityTooLarge, "*at most 4096*");
        }

        var rows = string.Join(",", Enumerable.Repeat("[0,0,0,0,0,0,0,0]", 65));
        using var many = await PostJson($"{{\"embeddings\":[{rows}]}}");
        await ExpectProblem(many, HttpStatusCode.RequestEntityTooLarge, "*more than 64 rows*");
    }

    [Fact]
    public async Task Health_AnswersJsonWithTheDetectorsDriftData()
    {
        using var response = await Client.GetAsync("/health");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var check = json.RootElement.GetProperty("checks").GetProperty("flowood-embeddings");
        check.GetProperty("status").GetString().Should().BeOneOf("Healthy", "Degraded");
        check.GetProperty("data").GetProperty("alpha").GetDouble().Should().Be(service.Library.TargetFalsePositiveRate);
        check.GetProperty("data").GetProperty("window").GetInt32().Should().Be(10);
    }

    private static string Numbers(float[] row) => string.Join(",", row.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));

    private static (bool Ood, double Score, double PValue)[] Results(string body)
    {
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("results").EnumerateArray()
            .Select(r => (r.GetProperty("ood").GetBoolean(), r.GetProperty("score").GetDouble(), r.GetProperty("pValue").GetDouble())).ToArray();
    }

    private static async Task ExpectProblem(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        response.StatusCode.Should().Be(status);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        json.RootElement.GetProperty("detail").GetString().Should().Match(detail);
    }

    private Task<HttpResponseMessage> PostJson(string body) => PostBytes(Encoding.UTF8.GetBytes(body), "application/json");

    private async Task<HttpResponseMessage> PostBytes(byte[] body, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return await Client.PostAsync("/embeddings", content);
    }
}
