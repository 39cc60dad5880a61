using System;
using System.Buffers;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Gating;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FlowOod.AspNetCore;

/// <content>The embeddings endpoint.</content>
public static partial class FlowOodEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>POST <paramref name="pattern"/></c>: the OOD check of embedding rows through the service registered by
    /// <see cref="FlowOodServiceCollectionExtensions.AddFlowOodEmbeddingDetector(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{FlowOodEmbeddingOptions})"/>.
    /// </summary>
    /// <param name="endpoints">The route builder (e.g. the <c>WebApplication</c>).</param>
    /// <param name="pattern">The route, default <c>/embeddings</c>.</param>
    /// <returns>The endpoint's convention builder (add authorization, rate limiting, ... to it).</returns>
    /// <remarks>
    /// <para><b>Request bodies</b> (D = the detector's dimension; values finite in float32):</para>
    /// <list type="bullet">
    /// <item><c>application/json</c>: <c>{"embedding": [v, ...]}</c>, one row of D numbers, or
    /// <c>{"embeddings": [[v, ...], ...]}</c>, rows of D numbers each.</item>
    /// <item><c>application/octet-stream</c>: rows of D little-endian float32 values back to back (length a multiple of 4·D).</item>
    /// </list>
    /// <para><b>Answers</b>: 200 with <c>{"ood", "pValue", "score", "threshold"}</c> for the one-row JSON form, or
    /// <c>{"alpha", "threshold", "results": [{"ood", "pValue", "score"}, ...]}</c> (row order) for the other two; an OOD
    /// row is an answer, not an error (<c>"ood": true</c>, p-value ≤ α). Problem details otherwise, as for
    /// <see cref="MapFlowOodClassify"/>: 400 (empty body, malformed JSON, wrong row length, a value that is not a finite
    /// number), 408 (<see cref="FlowOodServingOptions.RequestBodyTimeout"/>), 413 (body over
    /// <see cref="FlowOodServingOptions.MaxRequestBytes"/>, or more rows than <see cref="FlowOodEmbeddingOptions.MaxRowsPerRequest"/>),
    /// 415 (another content type), 503 (queue full, with Retry-After: 1; or not running). Each row is one queue entry,
    /// and its answer is bit-identical whatever request or batch it comes in.</para>
    /// </remarks>
    public static IEndpointConventionBuilder MapFlowOodEmbeddings(this IEndpointRouteBuilder endpoints, string pattern = "/embeddings")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        return endpoints.MapPost(pattern, HandleEmbeddingsAsync);
    }

    private static Task HandleEmbeddingsAsync(HttpContext context)
    {
        var service = context.RequestServices.GetRequiredService<EmbeddingRuntime>();
        var runtime = service.Runtime;
        var options = (FlowOodEmbeddingOptions)runtime.Options;
        return AnswerAsync(context, runtime, async aborted =>
        {
            var format = RequestParser.ParseContentType(context.Request.ContentType);
            var dimension = runtime.Layout.Length;
            var (buffer, length) = await ReadBodyAsync(context, options, Logger(runtime)).ConfigureAwait(false);
            System.Collections.Generic.List<float[]> rows;
            bool single;
            try
            {
                rows = EmbeddingInput.Parse(format, buffer.AsSpan(0, length), dimension, options.MaxRowsPerRequest, out single);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            // A row refused by a full queue cancels the request's other rows still waiting.
            using var request = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            GateDecision[] decisions;
            var pending = new Task<GateDecision>[rows.Count];
            try
            {
                for (int i = 0; i < rows.Count; i++)
                {
                    pending[i] = runtime.EnqueueOwned(rows[i], request.Token).AsTask();
                }

                decisions = await Task.WhenAll(pending).ConfigureAwait(false);
            }
            catch
            {
                await request.CancelAsync().ConfigureAwait(false);
                throw;
            }

            await WriteEmbeddingAnswerAsync(context, decisions, single, runtime.Gate.TargetFalsePositiveRate).ConfigureAwait(false);
        });
    }

    private static async Task WriteEmbeddingAnswerAsync(HttpContext context, GateDecision[] decisions, bool single, double alpha)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var json = new ArrayBufferWriter<byte>(64 + (72 * decisions.Length));
        using (var writer = new Utf8JsonWriter(json, WriterOptions))
        {
            writer.WriteStartObject();
            if (single)
            {
                WriteVerdict(writer, decisions[0]);
                Finite(writer, "threshold", decisions[0].Threshold);
            }
            else
            {
                writer.WriteNumber("alpha", alpha);
                Finite(writer, "threshold", decisions.First().Threshold);
                writer.WriteStartArray("results");
                foreach (var decision in decisions)
                {
                    writer.WriteStartObject();
                    WriteVerdict(writer, decision);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        await response.Body.WriteAsync(json.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static void WriteVerdict(Utf8JsonWriter writer, GateDecision decision)
    {
        writer.WriteBoolean("ood", decision.IsOutOfDistribution);
        writer.WriteNumber("pValue", decision.PValue);
        Finite(writer, "score", decision.Score);
    }
}
