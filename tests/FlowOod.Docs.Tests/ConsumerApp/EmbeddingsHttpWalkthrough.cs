using System;
using System.Buffers.Binary;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.AspNetCore;
using FlowOod.Detection;
using FlowOod.Embeddings;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Walkthrough;

/// <summary>
/// README.md's second way in, served: embedding rows behind an EmbeddingDetector (fitted, saved), then the web
/// application of docs/getting-started.md ("Embeddings in, OOD check out": AddFlowOodEmbeddingDetector,
/// MapFlowOodEmbeddings, MapHealthChecks) on Kestrel; JSON rows and little-endian float32 bytes checked against the
/// library's predictions.
/// </summary>
internal static class EmbeddingsHttpWalkthrough
{
    public static async Task RunAsync(string[] args)
    {
        var random = new Random(1);
        float[][] rows = Enumerable.Range(0, 400).Select(_ => Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();
        using (var detector = EmbeddingDetector.Fit(rows, new EmbeddingDetectorOptions { TargetFalsePositiveRate = 0.1, FeatureFlow = Walk.ShortFit }))
        {
            detector.Save("embeddings.flowood");
        }

        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddFlowOodEmbeddingDetector(o => o.DetectorPath = "embeddings.flowood");
        await using var app = builder.Build();
        app.MapFlowOodEmbeddings("/embeddings");   // {"embedding":[...]}, {"embeddings":[[...],...]} or little-endian float32 bytes
        app.MapHealthChecks("/health");            // JSON, with the drift data of the p-values
        await app.StartAsync();
        using var client = Walk.ClientOf(app);

        float[][] incoming = [.. rows.Take(8), [40f, -40f, 40f, -40f]];
        OodPrediction[] expected;
        using (var reference = EmbeddingDetector.Load("embeddings.flowood"))   // the library's answers for the same rows
        {
            expected = reference.Predict(incoming);
        }

        Walk.Expect(expected[^1].IsOutOfDistribution && expected.Take(8).Any(p => !p.IsOutOfDistribution),
            "the detector flags the far row and passes in-distribution ones");

        // One row: {"embedding": [...]} → 200 {"ood", "pValue", "score", "threshold"}.
        var one = await Walk.PostJsonAsync(client, "/embeddings", new { embedding = incoming[0] });
        Walk.Expect(one.Status == 200, $"/embeddings answers one JSON row with 200; got {one.Status} {one.Body}");
        var single = Walk.Json(one.Body);
        Walk.Expect(
            Walk.SameVerdict(single, expected[0].IsOutOfDistribution, expected[0].PValue, expected[0].Score)
            && single.GetProperty("threshold").ValueKind == System.Text.Json.JsonValueKind.Number,
            $"/embeddings of one row is {{\"ood\":{expected[0].IsOutOfDistribution},\"pValue\":{expected[0].PValue},\"score\":{expected[0].Score},\"threshold\":...}}; got {one.Body}");
        Console.WriteLine($"embeddings-http: POST /embeddings {{\"embedding\":[...]}} → {one.Status} {one.Body}");

        // Rows: {"embeddings": [[...], ...]} → 200 {"alpha", "threshold", "results": [{"ood", "pValue", "score"}, ...]}.
        var many = await Walk.PostJsonAsync(client, "/embeddings", new { embeddings = incoming });
        Walk.Expect(many.Status == 200, $"/embeddings answers JSON rows with 200; got {many.Status} {many.Body}");
        bool AsPredicted(string body)
        {
            var batch = Walk.Json(body);
            var results = batch.GetProperty("results").EnumerateArray().ToArray();
            return batch.GetProperty("alpha").GetDouble() == 0.1
                && batch.GetProperty("threshold").GetDouble() == single.GetProperty("threshold").GetDouble()
                && results.Length == incoming.Length
                && results.Select((r, i) => Walk.SameVerdict(r, expected[i].IsOutOfDistribution, expected[i].PValue, expected[i].Score)).All(same => same);
        }

        Walk.Expect(AsPredicted(many.Body),
            $"/embeddings of {incoming.Length} rows is {{\"alpha\":0.1,\"threshold\":...,\"results\":[...]}} with EmbeddingDetector.Predict's verdicts in row order; got {many.Body}");
        Console.WriteLine($"embeddings-http: POST /embeddings {{\"embeddings\":[[...] × {incoming.Length}]}} → {many.Status} {many.Body}");

        // The same rows as little-endian float32 bytes, back to back: the same answer.
        var bytes = new byte[incoming.Length * 4 * 4];
        for (int i = 0; i < incoming.Length * 4; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), incoming[i / 4][i % 4]);
        }

        var raw = await Walk.PostAsync(client, "/embeddings", bytes, "application/octet-stream");
        Walk.Expect(raw.Status == 200 && AsPredicted(raw.Body), $"/embeddings answers the rows as float32 bytes as it answers them as JSON; got {raw.Status} {raw.Body}");
        Console.WriteLine($"embeddings-http: POST /embeddings ({bytes.Length} bytes of float32) → {raw.Status}, the same answer");

        await Walk.ExpectHealthyAsync(client, "flowood-embeddings", "embeddings-http");
        // Close the client's keep-alive connection first: on stop the service drains open connections for up to
        // ShutdownDrainTimeout (5 s by default), so that no request already sent on one goes unanswered.
        client.Dispose();
        await app.StopAsync();
    }
}
