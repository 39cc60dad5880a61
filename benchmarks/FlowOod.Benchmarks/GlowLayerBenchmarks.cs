using BenchmarkDotNet.Attributes;
using FlowOod.Bijectors;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// Forward, inverse and forward+backward of Glow's per-step layers at Glow's first-scale shape after a squeeze,
/// [batch, 4, 14, 14].
/// </summary>
[MemoryDiagnoser]
[JsonExporterAttribute.Full]
public class GlowLayerBenchmarks
{
    private Bijector layer = null!;
    private Tensor input = null!;
    private Tensor trainInput = null!;

    /// <summary>The layer family.</summary>
    [Params("ActNorm", "InvertibleConv1x1", "LuInvertibleConv1x1", "Permutation")]
    public string Layer { get; set; } = "ActNorm";

    /// <summary>Images per call.</summary>
    [Params(64)]
    public int Batch { get; set; } = 64;

    /// <summary>Builds (and for ActNorm initialises) the layer and a batch.</summary>
    [GlobalSetup]
    public void Setup()
    {
        random.manual_seed(0);
        input = randn(Batch, 4, 14, 14);
        layer = Layer switch
        {
            "InvertibleConv1x1" => new InvertibleConv1x1(4),
            "LuInvertibleConv1x1" => new LuInvertibleConv1x1(4),
            "Permutation" => Permutation.Random(4, seed: 1),
            _ => new ActNorm(4),
        };
        if (layer is ActNorm actNorm)
        {
            actNorm.InitializeFrom(input);
        }

        // Inside a flow a layer's input carries gradients from earlier layers (and Permutation has no parameters).
        trainInput = input.detach().requires_grad_(true);
    }

    /// <summary>Releases the layer and the batch.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        trainInput.Dispose();
        input.Dispose();
        layer.Dispose();
    }

    /// <summary>Forward without gradients.</summary>
    [Benchmark(Baseline = true)]
    public void Forward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        layer.Forward(input);
    }

    /// <summary>Inverse without gradients.</summary>
    [Benchmark]
    public void Inverse()
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        layer.Inverse(input);
    }

    /// <summary>Forward plus backward of Σ output² + Σ LogDet.</summary>
    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = NewDisposeScope();
        var (output, logDet) = layer.Forward(trainInput);
        output.square().sum().add(logDet.sum()).backward();
        layer.zero_grad();
        trainInput.grad?.zero_();
    }
}
