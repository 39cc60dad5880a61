using System;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.Gating;
using FlowOod.Scoring;
using FlowOod.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;

namespace Walkthrough;

/// <summary>What the walkthrough's checks share: data, short training, a tiny HTTP client, expectations.</summary>
internal static class Walk
{
    // Kept: a temporary Scalar could be freed by the GC during the native call.
    private static readonly Scalar Dark = 0.3.ToScalar();

    /// <summary>Short training so each check runs in seconds (the documentation's defaults train longer).</summary>
    public static FeatureSpaceFitOptions ShortFit { get; } = new() { Training = new TrainingOptions { Steps = 60, BatchSize = 32, Seed = 1 } };

    /// <summary>The gates' in-distribution data: dark images [n, 1, 4, 4] with values in [0, 0.3).</summary>
    public static Tensor DarkImages(int n, long seed)
    {
        using var generator = new Generator((ulong)seed);
        return torch.rand(new long[] { n, 1, 4, 4 }, generator: generator).mul_(Dark);
    }

    /// <summary>Dark images as a client sends them: 16 bytes each, every one below 77 (v / 255 &lt; 0.3).</summary>
    public static byte[][] DarkPixels(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 16).Select(_ => (byte)random.Next(0, 77)).ToArray()).ToArray();
    }

    /// <summary>A white image (every byte 255): far from the dark images.</summary>
    public static byte[] WhitePixels { get; } = Enumerable.Repeat((byte)255, 16).ToArray();

    /// <summary>The batch [N, 1, 4, 4] the service makes of these bytes: v / 255 in float32.</summary>
    public static Tensor ToTensor(byte[][] images) =>
        torch.tensor(images.SelectMany(i => i.Select(b => b / 255f)).ToArray(), new long[] { images.Length, 1, 4, 4 });

    /// <summary>Throws when <paramref name="condition"/> is false, naming what the documentation promised.</summary>
    public static void Expect(bool condition, string promise)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Walkthrough check failed: {promise}");
        }
    }

    /// <summary>A client of the started <paramref name="app"/> at the address Kestrel bound (--urls http://127.0.0.1:0).</summary>
    public static HttpClient ClientOf(WebApplication app) =>
        new() { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

    public static async Task<(int Status, string Body)> PostAsync(HttpClient client, string path, byte[] body, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await client.PostAsync(path, content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static Task<(int Status, string Body)> PostJsonAsync(HttpClient client, string path, object value) =>
        PostAsync(client, path, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value)), "application/json");

    public static async Task<(int Status, string Body)> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static JsonElement Json(string body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Whether an answer's score is the library's: bit for bit when <paramref name="exact"/> (the documentation's promise
    /// for an OodGate over a TorchSharp classifier and for an EmbeddingDetector, whatever request or batch an input
    /// comes in), else up to a few float32 rounding steps. The ONNX classifier hands ONNX Runtime a managed copy of
    /// each chunk, whose memory alignment varies from call to call, and matrix products may round the last bit
    /// differently with it (as libtorch's did before OodGate copied its chunks into aligned buffers); there the verdict
    /// and the p-value, a rank among the calibration scores, are compared exactly and the score within 10⁻⁶.
    /// </summary>
    public static bool SameScore(double http, double library, bool exact = true) =>
        exact ? http.Equals(library) : Math.Abs(http - library) <= 1e-6 * Math.Max(1, Math.Abs(library));

    /// <summary>Whether an answer's fields are the library decision's: ood and pValue exactly, score as <see cref="SameScore"/>.</summary>
    public static bool SameVerdict(JsonElement body, bool ood, double pValue, double score, bool exact = true) =>
        body.GetProperty("ood").GetBoolean() == ood
        && body.GetProperty("pValue").GetDouble() == pValue
        && SameScore(body.GetProperty("score").GetDouble(), score, exact);

    /// <summary>
    /// POSTs each image to /classify as raw bytes and as JSON pixels and checks every answer against the library's
    /// decision for the same values: 200 {label, labelName, probabilities, ood: false, pValue, score, threshold} or
    /// 422 {ood: true, reason, pValue, score, threshold}. Returns how many were accepted.
    /// </summary>
    public static async Task<int> ExpectClassifyAnswersAsync(HttpClient client, byte[][] images, GateDecision[] expected, string mode, bool exact = true)
    {
        int accepted = 0;
        bool refusalShown = false;
        for (int i = 0; i < images.Length; i++)
        {
            var e = expected[i];
            foreach (var (form, answer) in new[]
            {
                ("raw bytes", await PostAsync(client, "/classify", images[i], "application/octet-stream")),
                ("JSON pixels", await PostJsonAsync(client, "/classify", new { pixels = images[i].Select(b => (int)b).ToArray() })),
            })
            {
                var what = $"/classify of image {i} as {form}";
                Expect(answer.Status == (e.IsOutOfDistribution ? 422 : 200), $"{what} is {(e.IsOutOfDistribution ? 422 : 200)} as OodGate.Classify decides (p = {e.PValue}); got {answer.Status} {answer.Body}");
                var body = Json(answer.Body);
                Expect(
                    SameVerdict(body, e.IsOutOfDistribution, e.PValue, e.Score, exact) && body.GetProperty("threshold").GetDouble() == e.Threshold,
                    $"{what} gives OodGate.Classify's ood {e.IsOutOfDistribution}, pValue {e.PValue}, score {e.Score}, threshold {e.Threshold}; got {answer.Body}");
                if (e.IsOutOfDistribution)
                {
                    Expect(body.GetProperty("reason").GetString()!.StartsWith("out of distribution", StringComparison.Ordinal), $"a 422 says why: {answer.Body}");
                    if (!refusalShown)
                    {
                        Console.WriteLine($"{mode}: POST /classify (refused) → {answer.Status} {answer.Body}");
                        refusalShown = true;
                    }
                }
                else
                {
                    var probabilities = body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()).ToArray();
                    Expect(
                        body.GetProperty("label").GetInt32() == e.Label
                        && body.GetProperty("labelName").GetString() == e.LabelName
                        && probabilities.Length == e.Probabilities.Count
                        && probabilities.Zip(e.Probabilities).All(p => SameScore(p.First, p.Second, exact)),
                        $"{what} gives label {e.Label} ({e.LabelName}), probabilities [{string.Join(", ", e.Probabilities)}]; got {answer.Body}");
                    if (accepted == 0)
                    {
                        Console.WriteLine($"{mode}: POST /classify (accepted) → {answer.Status} {answer.Body}");
                    }
                }
            }

            accepted += e.IsOutOfDistribution ? 0 : 1;
        }

        return accepted;
    }

    /// <summary>GET /health: 200 JSON {"status": "Healthy", "checks": {<paramref name="check"/>: {"status", "description", "data"}}}.</summary>
    public static async Task ExpectHealthyAsync(HttpClient client, string check, string mode)
    {
        var health = await GetAsync(client, "/health");
        Expect(health.Status == 200, $"/health answers 200; got {health.Status} {health.Body}");
        var body = Json(health.Body);
        Expect(
            body.GetProperty("status").GetString() == "Healthy"
            && body.GetProperty("checks").GetProperty(check).GetProperty("status").GetString() == "Healthy"
            && body.GetProperty("checks").GetProperty(check).GetProperty("description").GetString()!.Length > 0
            && body.GetProperty("checks").GetProperty(check).GetProperty("data").ValueKind == JsonValueKind.Object,
            $"/health is {{\"status\":\"Healthy\",\"checks\":{{\"{check}\":{{\"status\":\"Healthy\",\"description\":...,\"data\":{{...}}}}}}}}; got {health.Body}");
        Console.WriteLine($"{mode}: GET /health → {health.Status} {health.Body}");
    }
}
