using System;
using System.Globalization;

namespace FlowOod.Samples.FashionMnist;

/// <summary>Command-line options of the demo, with their defaults.</summary>
internal sealed record DemoOptions
{
    public int Steps { get; init; } = 300;

    public int BatchSize { get; init; } = 64;

    public long Seed { get; init; } = 1;

    public double LearningRate { get; init; } = 1e-3;

    public string? DataDirectory { get; init; }

    public int Threads { get; init; }

    public int EvaluationLimit { get; init; } = 10_000;

    public const string Usage = """
        Trains the compact RealNVP on Fashion-MNIST and shows that it gives MNIST digits higher likelihood.

        Usage: FlowOod.Samples.FashionMnist [demo] [options]
               FlowOod.Samples.FashionMnist import-mnist-json <mnist-package/src/digits> <output-folder>
               FlowOod.Samples.FashionMnist compare-scorers [options]   (every OOD scorer on Fashion-MNIST vs MNIST; --help there)
               FlowOod.Samples.FashionMnist check-runtime   (loads TorchSharp's native backend and reports problems)

        Options:
          --steps N        training steps (default 300)
          --batch-size N   images per step (default 64)
          --lr X           Adam learning rate (default 0.001)
          --seed N         seed for initialisation, shuffling and dequantization noise (default 1)
          --data-dir DIR   folder holding fashion-mnist/ and mnist/ (default: $FLOWOOD_DATA_DIR, else ~/.local/share/flowood/datasets)
          --threads N      TorchSharp intra-op threads (default: libtorch's choice)
          --eval-limit N   evaluate at most N images of each test set (default 10000)
        """;

    /// <summary>Parses <paramref name="args"/> (after the verb); throws <see cref="ArgumentException"/> naming a bad option.</summary>
    public static DemoOptions Parse(ReadOnlySpan<string> args)
    {
        var options = new DemoOptions();
        for (int i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"Option {name} needs a value.");
            }

            var value = args[++i];
            options = name switch
            {
                "--steps" => options with { Steps = Positive(name, value) },
                "--batch-size" => options with { BatchSize = Positive(name, value) },
                "--lr" => options with { LearningRate = PositiveDouble(name, value) },
                "--seed" => options with { Seed = long.Parse(value, CultureInfo.InvariantCulture) },
                "--data-dir" => options with { DataDirectory = value },
                "--threads" => options with { Threads = Positive(name, value) },
                "--eval-limit" => options with { EvaluationLimit = Positive(name, value) },
                _ => throw new ArgumentException($"Unknown option {name}."),
            };
        }

        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} needs a positive integer, got '{value}'.");

    private static double PositiveDouble(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x > 0 && double.IsFinite(x)
            ? x
            : throw new ArgumentException($"{name} needs a positive number, got '{value}'.");
}
