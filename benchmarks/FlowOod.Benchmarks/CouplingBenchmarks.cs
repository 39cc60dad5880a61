using BenchmarkDotNet.Attributes;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Masks;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// Forward, inverse and forward+backward of one affine coupling layer with the ResNet st-network at RealNVP's
/// first-scale shape, [batch, 1, 28, 28], per mask family.
/// </summary>
[MemoryDiagnoser]
[JsonExporterAttribute.Full]
public class CouplingBenchmarks
{
    private AffineCoupling coupling = null!;
    private Tensor input = null!;

    /// <summary>The mask family.</summary>
    [Params("Checkerboard", "Channel")]
    public string Mask { get; set; } = "Checkerboard";

    /// <summary>Images per call.</summary>
    [Params(64)]
    public int Batch { get; set; } = 64;

    /// <summary>Builds the layer (eval mode for the inference directions) and a batch.</summary>
    [GlobalSetup]
    public void Setup()
    {
        random.manual_seed(0);
        var st = new ResNetConditionerFactory(width: 32, blocks: 2);
        coupling = Mask == "Channel"
            ? new AffineCoupling(new long[] { 4, 14, 14 }, ChannelMask.Instance, 0, st)
            : new AffineCoupling(new long[] { 1, 28, 28 }, CheckerboardMask.Instance, 0, st);
        input = Mask == "Channel" ? randn(Batch, 4, 14, 14) : randn(Batch, 1, 28, 28);
    }

    /// <summary>Releases the layer and the batch.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        input.Dispose();
        coupling.Dispose();
    }

    /// <summary>Forward (data → latent) without gradients.</summary>
    [Benchmark(Baseline = true)]
    public void Forward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        coupling.eval();
        coupling.Forward(input);
    }

    /// <summary>Inverse (latent → data) without gradients.</summary>
    [Benchmark]
    public void Inverse()
    {
        using var scope = NewDisposeScope();
        using var noGrad = inference_mode();
        coupling.eval();
        coupling.Inverse(input);
    }

    /// <summary>Forward in training mode plus backward of Σ output² + Σ LogDet.</summary>
    [Benchmark]
    public void ForwardBackward()
    {
        using var scope = NewDisposeScope();
        coupling.train();
        var (output, logDet) = coupling.Forward(input);
        output.square().sum().add(logDet.sum()).backward();
        coupling.zero_grad();
    }
}
