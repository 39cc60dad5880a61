using System;
using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Gating;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FlowOod.AspNetCore;

/// <summary>Maps the HTTP endpoints of the gate and of the embedding detector.</summary>
public static partial class FlowOodEndpointRouteBuilderExtensions
{
    // Answers are application/json, never embedded in HTML: keep ', ≤, α readable instead of \u-escaping them.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Maps <c>POST <paramref name="pattern"/></c>: classify one input through the gate service registered by
    /// <see cref="FlowOodServiceCollectionExtensions.AddFlowOodGate(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{FlowOodGateOptions})"/>.
    /// </summary>
    /// <param name="endpoints">The route builder (e.g. the <c>WebApplication</c>).</param>
    /// <param name="pattern">The route, default <c>/classify</c>.</param>
    /// <returns>The endpoint's convention builder (add authorization, rate limiting, ... to it).</returns>
    /// <remarks>
    /// <para><b>Request bodies</b> (each value v in 0..255 becomes the gate input v / 255, as <c>ImageDataset.ToTensor</c>):</para>
    /// <list type="bullet">
    /// <item><c>image/png</c>: an 8-bit, non-interlaced PNG of exactly the gate's width × height; its channels must match
    /// the gate's (greyscale for a 1-channel gate, RGB for a 3-channel one; an alpha channel beyond them is dropped;
    /// colour sent to a greyscale gate is refused with 415, not converted).</item>
    /// <item><c>application/octet-stream</c>: exactly prod(InputShape) bytes, one per value, row-major (channel-planar),
    /// as in IDX files: 784 bytes for a [1, 28, 28] gate.</item>
    /// <item><c>application/json</c>: <c>{"pixels": [v, ...]}</c> with prod(InputShape) numbers, row-major, or
    /// <c>{"image": [[v, ...], ...]}</c>, nested arrays of the input shape (or of the shape without its leading 1: a list
    /// of rows). Numbers only, each finite and in 0..255.</item>
    /// </list>
    /// <para><b>Answers</b>: 200 <c>{"label", "labelName", "probabilities", "ood": false, "pValue", "score", "threshold"}</c>
    /// for an accepted input; 422 <c>{"ood": true, "reason", "pValue", "score", "threshold"}</c> for an input refused as
    /// out-of-distribution (p-value ≤ α). Problem details (<c>application/problem+json</c> with a <c>detail</c> message)
    /// otherwise: 400 (empty body, damaged PNG, wrong size or count, a value that is not a number in 0..255, malformed
    /// JSON), 408 (the body was not complete within <see cref="FlowOodServingOptions.RequestBodyTimeout"/>; the connection is
    /// closed), 413 (body over <see cref="FlowOodServingOptions.MaxRequestBytes"/>, enforced while reading), 415 (other
    /// content types, unsupported PNG kinds: palette, 16-bit, interlaced, mismatched colour), 503 (queue full, with
    /// Retry-After: 1; or the service is not running). <c>score</c> is null when it is not finite.</para>
    /// </remarks>
    public static IEndpointConventionBuilder MapFlowOodClassify(this IEndpointRouteBuilder endpoints, string pattern = "/classify")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(pattern);
        return endpoints.MapPost(pattern, HandleAsync);
    }

    private static Task HandleAsync(HttpContext context)
    {
        var runtime = context.RequestServices.GetRequiredService<GateRuntime>();
        return AnswerAsync(context, runtime, async aborted =>
        {
            var format = RequestParser.ParseContentType(context.Request.ContentType);
            var layout = runtime.Layout;
            var (buffer, length) = await ReadBodyAsync(context, runtime.Options, Logger(runtime)).ConfigureAwait(false);
            float[] input;
            try
            {
                input = RequestParser.Parse(format, buffer.AsMemory(0, length), layout);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var decision = await runtime.EnqueueOwned(input, aborted).ConfigureAwait(false);
            await WriteDecisionAsync(context, decision, runtime.Gate.TargetFalsePositiveRate).ConfigureAwait(false);
        });
    }

    private static ILogger Logger(GateRuntime runtime) => runtime.LoggerFactory.CreateLogger(typeof(FlowOodEndpointRouteBuilderExtensions).FullName!);

    // Runs one request's work and maps its failures to answers, the same for every FlowOod endpoint: bad input → its 4xx
    // problem (408 also closes the connection), a full queue → 503 with Retry-After: 1, not running → 503, the client
    // gone → nothing.
    private static async Task AnswerAsync(HttpContext context, GateRuntime runtime, Func<CancellationToken, Task> work)
    {
        var logger = Logger(runtime);
        var aborted = context.RequestAborted;
        try
        {
            await work(aborted).ConfigureAwait(false);
        }
        catch (BadInputException e)
        {
            Log.BadRequest(logger, e.StatusCode, e.Message);
            if (e.StatusCode == StatusCodes.Status408RequestTimeout)
            {
                // The rest of the body is never read: the connection cannot carry another request.
                context.Response.Headers.Connection = "close";
            }

            await WriteProblemAsync(context, e.StatusCode, e.Message).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            Log.BadRequest(logger, e.StatusCode, e.Message);
            await WriteProblemAsync(context, e.StatusCode, e.Message).ConfigureAwait(false);
        }
        catch (GateOverloadedException e)
        {
            context.Response.Headers.RetryAfter = "1";
            await WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, e.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
        }
        catch (InvalidOperationException e)
        {
            // Not started, stopping, or the worker refused the request.
            Log.RequestFailed(logger, e);
            await WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, e.Message).ConfigureAwait(false);
        }
    }

    // The whole body within RequestBodyTimeout, however it is paced (Kestrel's minimum data rate alone lets a client
    // trickling at 240 B/s hold a connection for minutes).
    private static async ValueTask<(byte[] Buffer, int Length)> ReadBodyAsync(HttpContext context, FlowOodServingOptions options, ILogger logger)
    {
        var aborted = context.RequestAborted;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(options.RequestBodyTimeout);
        try
        {
            return await RequestParser.ReadBodyAsync(context.Request.Body, context.Request.ContentLength, options.MaxRequestBytes, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            Log.BodyTimedOut(logger, options.RequestBodyTimeout.TotalSeconds);
            throw BadInputException.TimedOut(FormattableString.Invariant(
                $"The request body was not complete after {options.RequestBodyTimeout.TotalSeconds:G} s (RequestBodyTimeout); send the whole body at once."));
        }
    }

    private static async Task WriteDecisionAsync(HttpContext context, GateDecision decision, double alpha)
    {
        var response = context.Response;
        response.StatusCode = decision.IsOutOfDistribution ? StatusCodes.Status422UnprocessableEntity : StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var json = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(json, WriterOptions))
        {
            writer.WriteStartObject();
            if (decision.IsOutOfDistribution)
            {
                writer.WriteBoolean("ood", true);
                writer.WriteString("reason", FormattableString.Invariant(
                    $"out of distribution: p-value {decision.PValue:G4} ≤ α {alpha:G4} (score {decision.Score:G6} above the threshold {decision.Threshold:G6}); the label is not trustworthy"));
            }
            else
            {
                writer.WriteNumber("label", decision.Label);
                writer.WriteString("labelName", decision.LabelName);
                writer.WriteStartArray("probabilities");
                foreach (float p in decision.Probabilities)
                {
                    writer.WriteNumberValue(p);
                }

                writer.WriteEndArray();
                writer.WriteBoolean("ood", false);
            }

            writer.WriteNumber("pValue", decision.PValue);
            Finite(writer, "score", decision.Score);
            Finite(writer, "threshold", decision.Threshold);
            writer.WriteEndObject();
        }

        await response.Body.WriteAsync(json.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static void Finite(Utf8JsonWriter writer, string name, double value)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumber(name, value);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static async Task WriteProblemAsync(HttpContext context, int status, string detail)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = status;
        response.ContentType = "application/problem+json; charset=utf-8";
        var json = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(json, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type", $"https://tools.ietf.org/html/rfc9110#section-15.{(status >= 500 ? 6 : 5)}.{StatusSection(status)}");
            writer.WriteString("title", ReasonPhrases(status));
            writer.WriteNumber("status", status);
            writer.WriteString("detail", detail);
            writer.WriteEndObject();
        }

        await response.Body.WriteAsync(json.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static int StatusSection(int status) => status switch
    {
        400 => 1,
        408 => 9,
        413 => 14,
        415 => 16,
        422 => 21,
        503 => 4,
        _ => 1,
    };

    private static string ReasonPhrases(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "Error";
}
