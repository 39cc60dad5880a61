using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using FlowOod.AspNetCore;
using FlowOod.Gating;
using FlowOod.OnnxRuntime;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Walkthrough;

/// <summary>
/// README.md's third way in: an ONNX classifier (classifier.onnx beside the project: an MLP 16 → 8 → 3, input "input"
/// [N, 1, 4, 4], output "logits", its ReLU output "embedding" an inner value) behind a gate as docs/getting-started.md
/// ("Gate an ONNX classifier") shows: ExposeOutput, OnnxClassifier.Load, OodGate.Fit on the "features" layer, Save; then
/// reloaded with a classifier made from the same bytes, and served as src/FlowOod.OnnxRuntime/README.md shows.
/// </summary>
internal static class OnnxWalkthrough
{
    public static async Task RunAsync(string[] args)
    {
        byte[][] sent = [.. Walk.DarkPixels(20, seed: 4), Walk.WhitePixels];
        GateDecision[] expected;

        // ONNX Runtime returns graph outputs only: make the penultimate layer one (or export the model with it as an output).
        var model = OnnxModels.ExposeOutput(File.ReadAllBytes("classifier.onnx"), "embedding");
        using (var classifier = OnnxClassifier.Load(model, new OnnxClassifierOptions { FeatureOutputName = "embedding" }))
        using (var inDistribution = Walk.DarkImages(300, seed: 3))
        using (var gate = OodGate.Fit(classifier, inDistribution, new OodGateOptions
        {
            FeatureLayer = OnnxClassifier.FeatureLayer,   // "features"
            TargetFalsePositiveRate = 0.1,
            FeatureFlow = Walk.ShortFit,
        }))
        using (var batch = Walk.ToTensor(sent))
        {
            gate.Save("onnx-gate.flowood");
            expected = gate.Classify(batch);
        }

        File.WriteAllBytes("classifier-with-embedding.onnx", model);   // optional: keep the edited model
        Walk.Expect(expected[^1].IsOutOfDistribution, $"the ONNX classifier's gate refuses a white image (p = {expected[^1].PValue})");
        Walk.Expect(expected.Count(d => !d.IsOutOfDistribution) >= 10, "the ONNX classifier's gate passes most dark images at α = 0.1");

        // The gate file belongs to the model bytes: reloaded with a classifier made from them, the same decisions.
        using (var again = OnnxClassifier.Load("classifier-with-embedding.onnx", new OnnxClassifierOptions { FeatureOutputName = "embedding" }))
        using (var loaded = OodGate.Load("onnx-gate.flowood", again))
        using (var batch = Walk.ToTensor(sent))
        {
            var reloaded = loaded.Classify(batch);
            Walk.Expect(
                reloaded.Zip(expected).All(d => d.First.Label == d.Second.Label && d.First.IsOutOfDistribution == d.Second.IsOutOfDistribution
                    && d.First.PValue == d.Second.PValue && Walk.SameScore(d.First.Score, d.Second.Score, exact: false)),
                "OodGate.Load of the saved ONNX gate decides as the fitted gate did (labels, verdicts, p-values, scores)");
        }

        var first = expected.First(d => !d.IsOutOfDistribution);
        Console.WriteLine($"onnx: gate fitted, saved and reloaded with identical decisions; label {first.Label}, p = {first.PValue:F3}; white image p = {expected[^1].PValue:F3}, OOD");

        // Behind HTTP (src/FlowOod.OnnxRuntime/README.md): the service owns the classifier its factory makes.
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddFlowOodGate(o =>
        {
            o.GatePath = "onnx-gate.flowood";
            // Called once at start; the service owns (disposes) the classifier and its ONNX Runtime session.
            o.ClassifierFactory = _ => OnnxClassifier.Load("classifier-with-embedding.onnx", new OnnxClassifierOptions { FeatureOutputName = "embedding" });
        });
        await using var app = builder.Build();
        app.MapFlowOodClassify("/classify");
        app.MapHealthChecks("/health");
        await app.StartAsync();
        using var client = Walk.ClientOf(app);
        int accepted = await Walk.ExpectClassifyAnswersAsync(client, sent, expected, "onnx", exact: false);
        await Walk.ExpectHealthyAsync(client, "flowood-gate", "onnx");
        Console.WriteLine($"onnx: {accepted} of 20 dark images accepted and the white one refused over HTTP, each answer as OodGate.Classify's");
        // Close the client's keep-alive connection first: on stop the service drains open connections for up to
        // ShutdownDrainTimeout (5 s by default), so that no request already sent on one goes unanswered.
        client.Dispose();
        await app.StopAsync();
    }
}
