using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using FlowOod.OnnxRuntime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FlowOod.Samples.GateService.Onnx;

/// <summary>
/// The gate service's ONNX mode: serves the Fashion-MNIST classifier and its OOD gate with ONNX Runtime alone, from the
/// files FlowOod.Samples.GateService exports beside its models on first start (classifier.onnx, gate.onnx). Same
/// endpoint shapes: <c>POST /classify</c> (784 bytes as application/octet-stream, or JSON <c>{"pixels": [784 values
/// 0..255]}</c>), <c>GET /health</c>, <c>GET /</c>.
/// </summary>
public static class Program
{
    /// <summary>Starts the service: <c>--models FOLDER</c> (default: the gate service's), <c>--threads N</c> (ONNX Runtime's per call, default 1).</summary>
    /// <param name="args">Command-line arguments (also ASP.NET Core's, e.g. --urls).</param>
    /// <returns>The exit code: 0, or 2 for missing or unloadable model files.</returns>
    public static async Task<int> Main(string[] args)
    {
        try
        {
            await using var app = Build(args);
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
    }

    /// <summary>Builds the web application (the gate is loaded here, so bad files fail at start).</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The application.</returns>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var models = builder.Configuration["models"] ?? DefaultModels();
        var threads = int.Parse(builder.Configuration["threads"] ?? "1", CultureInfo.InvariantCulture);
        var classifier = Path.Combine(models, "classifier.onnx");
        var gatePath = Path.Combine(models, "gate.onnx");
        foreach (var file in new[] { classifier, gatePath })
        {
            if (!File.Exists(file))
            {
                throw new FileNotFoundException($"{file} is missing: start FlowOod.Samples.GateService once (./build.sh serve), which trains the models and exports them to ONNX.", file);
            }
        }

        builder.Services.AddSingleton(_ => OnnxGate.Load(classifier, gatePath, new OnnxGateOptions { IntraOpThreads = threads }));
        var app = builder.Build();
        var gate = app.Services.GetRequiredService<OnnxGate>();
        app.MapPost("/classify", async (HttpRequest request) =>
        {
            float[] pixels;
            try
            {
                pixels = await ReadPixels(request).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or JsonException or InvalidDataException)
            {
                return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
            }

            // The TorchSharp mode's contract (FlowOod.AspNetCore's MapFlowOodClassify): 200 with the label for an accepted
            // input, 422 with the reason for one refused as out of distribution; same fields, same order.
            var decision = gate.ClassifyOne(pixels);
            if (decision.IsOutOfDistribution)
            {
                return Results.Json(
                    new
                    {
                        ood = true,
                        reason = FormattableString.Invariant(
                            $"out of distribution: p-value {decision.PValue:G4} ≤ α {gate.TargetFalsePositiveRate:G4} (score {decision.Score:G6} above the threshold {decision.Threshold:G6}); the label is not trustworthy"),
                        pValue = decision.PValue,
                        score = decision.Score,
                        threshold = decision.Threshold,
                    },
                    statusCode: StatusCodes.Status422UnprocessableEntity);
            }

            return Results.Json(new
            {
                label = decision.Label,
                labelName = decision.LabelName,
                probabilities = decision.Probabilities,
                ood = false,
                pValue = decision.PValue,
                score = decision.Score,
                threshold = decision.Threshold,
            });
        });
        app.MapGet("/health", () => Results.Json(new { status = "Healthy" }));
        app.MapGet("/", () => Results.Json(new
        {
            service = "FlowOod gate, ONNX mode: classifier and gate through ONNX Runtime (no libtorch)",
            classify = "POST /classify with application/octet-stream (784 bytes) or application/json {\"pixels\": [784 values 0..255]}",
            gate = new { gate.InputShape, gate.ClassNames, alpha = gate.TargetFalsePositiveRate, gate.Threshold, gate.FeatureOutputName },
        }));
        return app;
    }

    // 784 pixels 0..255 → floats in [0, 1] (as FlowOod's image loaders scale them).
    private static async Task<float[]> ReadPixels(HttpRequest request)
    {
        byte[] values;
        if (request.HasJsonContentType())
        {
            var body = await JsonSerializer.DeserializeAsync<PixelsBody>(request.Body, JsonOptions).ConfigureAwait(false)
                ?? throw new ArgumentException("Empty JSON body.");
            values = (body.Pixels ?? throw new ArgumentException("The JSON body needs \"pixels\": [784 values 0..255]."))
                .Select(v => v is >= 0 and <= 255 ? (byte)v : throw new ArgumentException($"Pixel value {v} is outside 0..255.")).ToArray();
        }
        else
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer).ConfigureAwait(false);
            values = buffer.ToArray();
        }

        return values.Length == 784
            ? values.Select(v => v / 255f).ToArray()
            : throw new ArgumentException($"Expected 784 pixels (28×28 greyscale), got {values.Length}.");
    }

    private static string DefaultModels()
    {
        var data = Environment.GetEnvironmentVariable("FLOWOOD_DATA_DIR") is { Length: > 0 } dir ? dir
            : Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg) ? Path.Combine(xdg, "flowood", "datasets")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "flowood", "datasets");
        return Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(data)) ?? ".", "gate-service");
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private sealed class PixelsBody
    {
        public int[]? Pixels { get; set; }
    }
}
