using System;
using System.Threading.Tasks;
using FlowOod.AspNetCore;
using FlowOod.Gating;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;
using static TorchSharp.torch;

namespace Walkthrough;

/// <summary>
/// README.md's first way in, served: a TorchSharp classifier behind a gate (fitted, saved with the classifier's
/// weights), then the web application of docs/getting-started.md §7 (AddFlowOodGate bound to "FlowOod:Gate" of
/// appsettings.json, MapFlowOodClassify, MapHealthChecks) on Kestrel, and its answers checked against OodGate.Classify.
/// </summary>
internal static class GateHttpWalkthrough
{
    private static nn.Module<Tensor, Tensor> CreateClassifier() =>
        nn.Sequential(("flatten", nn.Flatten()), ("embed", nn.Linear(16, 6)), ("relu", nn.ReLU()), ("head", nn.Linear(6, 3)));

    // What a service's factory does: the architecture, the saved weights, evaluation mode.
    private static nn.Module<Tensor, Tensor> LoadMyClassifier()
    {
        var classifier = CreateClassifier();
        classifier.load("classifier.dat");
        classifier.eval();
        return classifier;
    }

    public static async Task RunAsync(string[] args)
    {
        torch.random.manual_seed(1);
        using var classifier = CreateClassifier();
        classifier.eval();
        using (var images = Walk.DarkImages(300, seed: 1))
        using (var gate = OodGate.Fit(classifier, images, new OodGateOptions
        {
            FeatureLayer = "embed",
            TargetFalsePositiveRate = 0.1,
            FeatureFlow = Walk.ShortFit,
            ClassNames = ["T-shirt", "Trouser", "Pullover"],
        }))
        {
            gate.Save("gate.flowood");   // appsettings.json: "FlowOod": { "Gate": { "GatePath": "gate.flowood" } }
        }

        classifier.save("classifier.dat");

        // docs/getting-started.md §7 as written there; app.Run() becomes StartAsync so that this process is the client.
        var builder = WebApplication.CreateBuilder(args);
        torch.set_num_threads(2);   // process-wide: the application's choice, made once, before the host starts
        builder.Services.AddFlowOodGate(builder.Configuration.GetSection("FlowOod:Gate"),
            o => o.ClassifierFactory = _ => LoadMyClassifier());
        await using var app = builder.Build();
        app.MapFlowOodClassify("/classify");
        app.MapHealthChecks("/health");   // readiness, JSON: 503 only when no gate can serve
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });   // liveness: no check
        await app.StartAsync();
        using var client = Walk.ClientOf(app);

        // The library's decisions for the same values, from the saved file, to compare every HTTP answer with.
        byte[][] sent = [.. Walk.DarkPixels(20, seed: 2), Walk.WhitePixels];
        GateDecision[] expected;
        using (var reference = OodGate.Load("gate.flowood", classifier))
        using (var batch = Walk.ToTensor(sent))
        {
            expected = reference.Classify(batch);
        }

        Walk.Expect(expected[^1].IsOutOfDistribution, $"the gate refuses a white image (p = {expected[^1].PValue})");
        int accepted = await Walk.ExpectClassifyAnswersAsync(client, sent, expected, "gate-http");
        Walk.Expect(accepted >= 10, $"most of 20 dark images pass at α = 0.1; {accepted} did");
        await Walk.ExpectHealthyAsync(client, "flowood-gate", "gate-http");
        var live = await Walk.GetAsync(client, "/health/live");
        Walk.Expect(live.Status == 200 && live.Body == "Healthy", $"/health/live answers 200 Healthy (it runs no check); got {live.Status} {live.Body}");
        Console.WriteLine($"gate-http: {accepted} of 20 dark images accepted and the white one refused over HTTP, each answer as OodGate.Classify's");
        // Close the client's keep-alive connection first: on stop the service drains open connections for up to
        // ShutdownDrainTimeout (5 s by default), so that no request already sent on one goes unanswered.
        client.Dispose();
        await app.StopAsync();
    }
}
