using System;
using System.Globalization;

namespace FlowOod.Samples.FashionMnist;

/// <summary>Options of the <c>compare-scorers</c> verb.</summary>
internal sealed record CompareOptions
{
    public int Steps { get; init; } = 600;

    public int BatchSize { get; init; } = 64;

    public int TrainImages { get; init; } = 20_000;

    public int Ensemble { get; init; } = 3;

    public double MutationRate { get; init; } = 0.05;

    public bool BackgroundFromScratch { get; init; }

    public double WeightDecay { get; init; }

    public int ClassifierSteps { get; init; } = 600;

    public double Alpha { get; init; } = 0.05;

    public string Flow { get; init; } = "glow";

    public long Seed { get; init; } = 1;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    public int EvaluationLimit { get; init; } = 2000;

    public string? SaveDetector { get; init; }

    public const string Usage = """
        FlowOod scorer comparison: trains the flows every scorer needs on Fashion-MNIST and reports AUROC, AUPR-Out and
        FPR at 95% TPR of each scorer on Fashion-MNIST test (in-distribution) vs MNIST digits (OOD = positive class).

        Usage: FlowOod.Samples.FashionMnist compare-scorers [options]

          --flow NAME          pixel flow: glow (2 scales × 4 steps, width 32; default) or realnvp (compact RealNVP)
          --steps N            training steps of every pixel flow (default 600)
          --batch-size N       images per step (default 64)
          --train-images N     Fashion-MNIST training images used (default 20000; held-out data comes from index 50000 on)
          --ensemble K         flows in the WAIC ensemble, ≥ 2 (default 3; the first is the likelihood model)
          --mutation-rate MU   pixel replacement rate of the likelihood-ratio background flow (default 0.05)
          --background HOW     fine-tune (default: the trained likelihood model fine-tuned on perturbed images, lr 1e-3)
                               or scratch (a fresh flow trained on perturbed images, as Ren et al.)
          --weight-decay L2    L2 penalty of the background flow (default 0)
          --classifier-steps N training steps of the small CNN whose embedding feeds the feature-space scorer (default 600)
          --alpha A            target false-positive rate of the calibrated detector (default 0.05)
          --seed N             seed of every initialisation, shuffle and perturbation (default 1)
          --eval-limit N       images of each test set scored (default 2000)
          --save-detector FILE save the calibrated likelihood-ratio detector, reload it and check its verdicts match
          --data-dir DIR       folder holding fashion-mnist/ and mnist/
          --threads N          TorchSharp intra-op threads
        """;

    public static CompareOptions Parse(ReadOnlySpan<string> args)
    {
        var options = new CompareOptions();
        for (int i = 0; i < args.Length; i += 2)
        {
            var name = args[i];
            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"Option {name} needs a value.");
            }

            var value = args[i + 1];
            options = name switch
            {
                "--flow" => value is "glow" or "realnvp" ? options with { Flow = value } : throw new ArgumentException($"--flow must be glow or realnvp, got {value}."),
                "--steps" => options with { Steps = Positive(name, value) },
                "--batch-size" => options with { BatchSize = Positive(name, value) },
                "--train-images" => options with { TrainImages = Math.Min(Positive(name, value), 50_000) },
                "--ensemble" => options with { Ensemble = Math.Max(2, Positive(name, value)) },
                "--mutation-rate" => options with { MutationRate = Double(name, value, 0, 1) },
                "--background" => value is "fine-tune" or "scratch" ? options with { BackgroundFromScratch = value == "scratch" } : throw new ArgumentException($"--background must be fine-tune or scratch, got {value}."),
                "--weight-decay" => options with { WeightDecay = Double(name, value, 0, double.MaxValue) },
                "--classifier-steps" => options with { ClassifierSteps = Positive(name, value) },
                "--alpha" => options with { Alpha = Double(name, value, 0, 1) },
                "--seed" => options with { Seed = long.Parse(value, CultureInfo.InvariantCulture) },
                "--eval-limit" => options with { EvaluationLimit = Positive(name, value) },
                "--save-detector" => options with { SaveDetector = value },
                "--data-dir" => options with { DataDirectory = value },
                "--threads" => options with { Threads = Positive(name, value) },
                _ => throw new ArgumentException($"Unknown option {name}."),
            };
        }

        return options;
    }

    private static int Positive(string name, string value)
    {
        var n = int.Parse(value, CultureInfo.InvariantCulture);
        return n > 0 ? n : throw new ArgumentException($"{name} must be positive, got {n}.");
    }

    private static double Double(string name, string value, double min, double max)
    {
        var x = double.Parse(value, CultureInfo.InvariantCulture);
        return x >= min && x <= max ? x : throw new ArgumentException($"{name} must lie in [{min}, {max}], got {x}.");
    }
}
