using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>
/// The evaluation-mode computation of a <see cref="ResNetConditioner"/> with every BatchNorm that can be folded exactly
/// folded into a convolution, for a frozen inference copy. Built from the network's current parameters and running
/// statistics (which it leaves unchanged); computes the same function up to the rounding of the folded weights.
/// </summary>
/// <remarks>
/// <para>In evaluation mode a BatchNorm is a per-channel affine map BN(x) = a·x + c (<see cref="BatchNorm2dLayer.EvaluationAffine"/>).
/// Folded, exactly in real arithmetic:</para>
/// <list type="bullet">
/// <item><description>Residual block, conv → BN → ReLU (the block's inner BN): the conv's weight scaled by a per output
/// channel, bias c.</description></item>
/// <item><description>Skip taps, Σᵢ conv1×1ᵢ(xᵢ) → BN: every tap's weight scaled by a, the biases summed, scaled and
/// shifted into the first tap's.</description></item>
/// <item><description>Weight-normalised convolutions become plain ones with W = g·V/‖V‖.</description></item>
/// </list>
/// <para>The skip taps after the first (1×1, no bias once folded) accumulate into the running sum by one matrix product
/// each on the channels-last tensors (<see cref="FrozenConv.AccumulateInto"/>), with no separate addition pass.</para>
/// <para>Not folded: the stem's BN → cat[x, −x] → ReLU (as a 1×1 convolution Cin → 2·Cin it is exact but 5–20× slower than
/// the three passes over a tensor of 1–4 channels: oneDNN has no fast kernel for so few channels; measured on a 2-core
/// AMD EPYC), a BN followed by ReLU before a convolution (the ReLU sits between, and the block's input is also the
/// identity path), and the output BN of the bottleneck layout (it follows a residual sum). A BN feeding a zero-padded
/// k×k convolution directly could not be folded exactly either (the padding zeros would become −c/a); this network has
/// none.</para>
/// </remarks>
internal sealed class FusedResNet : IDisposable
{
    private readonly BatchNorm2dLayer stemNorm;
    private readonly FrozenConv inConv;
    private readonly (BatchNorm2dLayer Norm, FrozenConv First, FrozenConv Second)[] blocks;
    private readonly FrozenConv[]? taps;
    private readonly nn.Module<Tensor, Tensor>? bottleneck;
    private readonly BatchNorm2dLayer? outNorm;
    private readonly FrozenConv outConv;
    private readonly object hostGate = new();
    private HostResNet? host;
    private bool hostBuilt;

    /// <summary>Folds the parts of a ResNet st-network (see <see cref="ResNetConditioner"/>): with <paramref name="taps"/>
    /// (the stem's skip conv, then one per block) the plain layout, otherwise the bottleneck layout.</summary>
    public FusedResNet(
        BatchNorm2dLayer inNorm,
        nn.Module<Tensor, Tensor> inConv,
        IReadOnlyList<ResidualParts> blocks,
        IReadOnlyList<nn.Module<Tensor, Tensor>>? taps,
        nn.Module<Tensor, Tensor>? bottleneck,
        BatchNorm2dLayer outNorm,
        nn.Module<Tensor, Tensor> outConv)
    {
        var made = new List<FrozenConv>();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            stemNorm = inNorm;
            this.inConv = Keep(made, Plain(inConv));
            this.blocks = blocks.Select(b => (b.InNorm, Keep(made, ConvThenNorm(b.InConv, b.OutNorm)), Keep(made, Plain(b.OutConv)))).ToArray();
            if (taps is not null)
            {
                this.taps = SumThenNorm(taps, outNorm).Select(t => Keep(made, t)).ToArray();
            }
            else
            {
                this.bottleneck = bottleneck;
                this.outNorm = outNorm;
            }

            this.outConv = Keep(made, Plain(outConv));
        }
        catch
        {
            made.ForEach(c => c.Dispose());
            throw;
        }
    }

    /// <summary>Whether <paramref name="input"/> has the dtype and device the folded weights are stored in.</summary>
    public bool Accepts(Tensor input) => inConv.Accepts(input);

    /// <summary>The network's output <c>[N, Cout, H, W]</c> for <paramref name="input"/> <c>[N, Cin, H, W]</c> (a new tensor).</summary>
    /// <remarks>Goes through <see cref="HostResNet"/> (managed code) when that covers the network and the input: one
    /// float32 or bf16 CPU image, or a float32 CPU batch where <see cref="HostConv.WinogradByDefault"/> holds (there its
    /// images are computed on libtorch's intra-op thread count of threads, each image whole by one thread); anything else
    /// through libtorch (<see cref="ForwardLibtorch"/>). When the application has turned on
    /// <see cref="FlowOodRuntime.UseSingleImageHelperThread"/> and gives libtorch more than one intra-op thread, one
    /// image's convolutions are shared with <see cref="HostHelper"/>'s thread when no other caller holds it
    /// (docs/performance.md).</remarks>
    public Tensor Forward(Tensor input)
    {
        int threads = get_num_threads();
        bool batch = input.Sizes() is [> 1, ..];
        if ((!batch || (HostConv.WinogradByDefault && input.dtype == ScalarType.Float32))
            && Host()?.TryForward(input, split: FlowOodRuntime.SingleImageHelperThread && threads > 1, threads) is { } fromHost)
        {
            return fromHost;
        }

        return ForwardLibtorch(input);
    }

    /// <summary>The network's output through libtorch alone (what <see cref="Forward"/> computes when the managed path
    /// does not take the input; tests compare the two).</summary>
    internal Tensor ForwardLibtorch(Tensor input)
    {
        using var scope = NewDisposeScope();
        Tensor x;
        using (var normalized = stemNorm.call(input))
        using (var both = cat(new[] { normalized, normalized.neg() }, 1))
        {
            x = inConv.Call(both.relu_());
        }

        if (taps is null)
        {
            for (int i = 0; i < blocks.Length; i++)
            {
                if (i == blocks.Length / 2)
                {
                    x = bottleneck!.call(x);
                }

                x = Block(blocks[i], x);
            }

            if (blocks.Length == 0)
            {
                x = bottleneck!.call(x);
            }

            using var normalized = outNorm!.call(x);
            return scope.MoveToOuter(outConv.Call(normalized.relu_()));
        }

        var sum = taps[0].Call(x);
        for (int i = 0; i < blocks.Length; i++)
        {
            var next = Block(blocks[i], x);
            x.Dispose();
            x = next;
            taps[i + 1].AccumulateInto(sum, x);
        }

        x.Dispose();
        return scope.MoveToOuter(outConv.Call(sum.relu_()));
    }

    /// <summary>Converts every folded weight to <paramref name="dtype"/> (the BNs that stay are converted with their network).</summary>
    public void ConvertTo(ScalarType dtype)
    {
        lock (hostGate)
        {
            foreach (var conv in AllConvs())
            {
                conv.ConvertTo(dtype);
            }

            // Re-packed from the converted weights at the next call (bf16 weights widened to float32).
            host = null;
            Volatile.Write(ref hostBuilt, false);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var conv in AllConvs())
        {
            conv.Dispose();
        }
    }

    /// <summary>The managed form of this network (for tests), or null when it has none.</summary>
    internal HostResNet? HostNetwork => Host();

    // The managed form of this network (built at the first call, packed from the folded weights), or null when it has none.
    private HostResNet? Host()
    {
        if (Volatile.Read(ref hostBuilt))
        {
            return host;
        }

        lock (hostGate)
        {
            if (!hostBuilt)
            {
                host = taps is null ? null : HostResNet.TryCreate(stemNorm, inConv, blocks, taps, outConv);
                Volatile.Write(ref hostBuilt, true);
            }

            return host;
        }
    }

    // BN → ReLU → conv (kept), conv·a + c → ReLU → conv, plus identity.
    private static Tensor Block((BatchNorm2dLayer Norm, FrozenConv First, FrozenConv Second) block, Tensor input)
    {
        using var a = block.Norm.call(input);
        using var b = block.First.Call(a.relu_());
        var d = block.Second.Call(b.relu_());
        return d.PlusInPlace(input);
    }

    private IEnumerable<FrozenConv> AllConvs() =>
        new[] { inConv, outConv }.Concat(blocks.SelectMany(b => new[] { b.First, b.Second })).Concat(taps ?? []);

    private static FrozenConv Keep(List<FrozenConv> made, FrozenConv conv)
    {
        made.Add(conv);
        return conv;
    }

    private static FrozenConv Plain(nn.Module<Tensor, Tensor> conv)
    {
        using var scope = NewDisposeScope();
        var (weight, bias, stride, padding) = Read(conv);
        return new FrozenConv(weight, bias, stride, padding, weight.dtype);
    }

    // conv → BN: W·a (per output channel), b·a + c.
    private static FrozenConv ConvThenNorm(nn.Module<Tensor, Tensor> conv, BatchNorm2dLayer norm)
    {
        using var scope = NewDisposeScope();
        var (weight, bias, stride, padding) = Read(conv);
        var (a, c) = norm.EvaluationAffine();
        var folded = weight.to(ScalarType.Float64).mul(a.reshape(-1, 1, 1, 1));
        var foldedBias = bias is null ? c : bias.to(ScalarType.Float64).mul(a).PlusInPlace(c);
        return new FrozenConv(folded, foldedBias, stride, padding, weight.dtype);
    }

    // Σᵢ convᵢ(xᵢ) → BN: every Wᵢ·a; the first tap's bias a·Σ bᵢ + c, the others none.
    private static FrozenConv[] SumThenNorm(IReadOnlyList<nn.Module<Tensor, Tensor>> convs, BatchNorm2dLayer norm)
    {
        using var scope = NewDisposeScope();
        var (a, c) = norm.EvaluationAffine();
        var biasSum = c.clone();
        var parts = convs.Select(Read).ToArray();
        foreach (var part in parts)
        {
            if (part.Bias is not null)
            {
                biasSum.PlusInPlace(part.Bias.to(ScalarType.Float64).mul(a));
            }
        }

        var folded = new List<FrozenConv>();
        try
        {
            for (int i = 0; i < parts.Length; i++)
            {
                var weight = parts[i].Weight.to(ScalarType.Float64).mul(a.reshape(-1, 1, 1, 1));
                folded.Add(new FrozenConv(weight, i == 0 ? biasSum : null, parts[i].Stride, parts[i].Padding, parts[i].Weight.dtype));
            }

            return folded.ToArray();
        }
        catch
        {
            folded.ForEach(f => f.Dispose());
            throw;
        }
    }

    // The weight a conv computes with (a new tensor or the parameter, inside the caller's scope), its bias, stride and padding.
    private static (Tensor Weight, Tensor? Bias, long[] Stride, long[] Padding) Read(nn.Module<Tensor, Tensor> conv) => conv switch
    {
        Conv2dLayer plain => (plain.Weight.detach(), plain.Bias?.detach(), plain.Stride, plain.Padding),
        WeightNormConv2d normalized => (normalized.EffectiveWeight(), normalized.Bias?.detach(), [1, 1], normalized.Padding),
        _ => throw new NotSupportedException($"Cannot fold a {conv.GetType().Name} into a frozen convolution."),
    };
}

/// <summary>The four layers of one residual block of a <see cref="ResNetConditioner"/>: BN → ReLU → conv → BN → ReLU → conv.</summary>
internal readonly record struct ResidualParts(
    BatchNorm2dLayer InNorm,
    nn.Module<Tensor, Tensor> InConv,
    BatchNorm2dLayer OutNorm,
    nn.Module<Tensor, Tensor> OutConv);
