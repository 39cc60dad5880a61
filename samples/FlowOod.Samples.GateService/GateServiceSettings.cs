using System;
using System.Collections.Generic;
using System.IO;
using FlowOod.Samples.FashionMnist;

namespace FlowOod.Samples.GateService;

/// <summary>
/// The service's own settings (configuration section <c>GateService</c>; command-line switches in parentheses). The
/// gate's serving options are the package's, section <c>FlowOod:Gate</c> (see <c>appsettings.json</c>).
/// </summary>
public sealed class GateServiceSettings
{
    /// <summary>The configuration section of these settings.</summary>
    public const string Section = "GateService";

    /// <summary>Short command-line switches and the keys they set.</summary>
    public static IDictionary<string, string> Switches { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--models"] = $"{Section}:{nameof(Models)}",
        ["--threads"] = $"{Section}:{nameof(Threads)}",
        ["--alpha"] = $"{Section}:{nameof(Alpha)}",
        ["--retrain"] = $"{Section}:{nameof(Retrain)}",
        ["--metrics-interval"] = $"{Section}:{nameof(MetricsIntervalSeconds)}",
        ["--seed"] = $"{Section}:{nameof(Seed)}",
    };

    /// <summary>Folder of <c>classifier.dat</c> and <c>gate.flowood</c> (--models). Default: <c>gate-service/</c> next to
    /// the data directory.</summary>
    public string Models { get; set; } = Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(FlowOodDatasets.DataDirectory)) ?? ".", "gate-service");

    /// <summary>libtorch intra-op threads for the process, set once before the host starts (--threads). Default: one per
    /// core. The scoring worker is the only thread running libtorch, so one thread per core is what it needs.</summary>
    public int Threads { get; set; } = Environment.ProcessorCount;

    /// <summary>Target false-positive rate α the gate is fitted for on first start (--alpha). Default 0.05.</summary>
    public double Alpha { get; set; } = 0.05;

    /// <summary>Train the classifier and gate again even when the files exist (--retrain true).</summary>
    public bool Retrain { get; set; }

    /// <summary>Seed of the first-start training (--seed). Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Fashion-MNIST training images 0 … N−1 train the classifier. Default 20,000.</summary>
    public int ClassifierImages { get; set; } = 20_000;

    /// <summary>Adam steps of the classifier (batch 64). Default 1,500.</summary>
    public int ClassifierSteps { get; set; } = 1500;

    /// <summary>Fashion-MNIST training images 50,000 … 50,000 + N − 1 (never seen by the classifier) fit and calibrate the
    /// gate. Default 10,000.</summary>
    public int GateImages { get; set; } = 10_000;

    /// <summary>Adam steps of the gate's feature flow (batch 128). Default 600.</summary>
    public int FlowSteps { get; set; } = 600;

    /// <summary>Seconds between OpenTelemetry console exports of the gate's metrics (--metrics-interval); 0 turns the
    /// exporter off. Default 60.</summary>
    public int MetricsIntervalSeconds { get; set; } = 60;

    /// <summary>The classifier's file.</summary>
    public string ClassifierPath => Path.Combine(Models, "classifier.dat");

    /// <summary>The gate's file.</summary>
    public string GatePath => Path.Combine(Models, "gate.flowood");

    /// <summary>The classifier as ONNX (logits and embedding outputs), for the ONNX mode (FlowOod.Samples.GateService.Onnx).</summary>
    public string OnnxClassifierPath => Path.Combine(Models, "classifier.onnx");

    /// <summary>The gate exported to ONNX (OnnxExport.WriteGate), for the ONNX mode.</summary>
    public string OnnxGatePath => Path.Combine(Models, "gate.onnx");

    /// <summary>Checks every setting and names the first bad one.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException($"GateService setting: {message}");
            }
        }

        Require(!string.IsNullOrWhiteSpace(Models), "Models (--models) must name a folder.");
        Require(Threads is >= 1 and <= 1024, $"Threads (--threads) must be in 1 … 1024; got {Threads}.");
        Require(Alpha is > 0 and < 1, $"Alpha (--alpha) must be in (0, 1); got {Alpha}.");
        Require(ClassifierImages is >= 64 and <= 50_000, $"ClassifierImages must be in 64 … 50,000 (images 50,000 on are the gate's); got {ClassifierImages}.");
        Require(ClassifierSteps >= 1, $"ClassifierSteps must be at least 1; got {ClassifierSteps}.");
        Require(GateImages is >= 256 and <= 10_000, $"GateImages must be in 256 … 10,000; got {GateImages}.");
        Require(FlowSteps >= 1, $"FlowSteps must be at least 1; got {FlowSteps}.");
        Require(MetricsIntervalSeconds >= 0, $"MetricsIntervalSeconds (--metrics-interval) must be 0 (off) or positive; got {MetricsIntervalSeconds}.");
    }
}
