using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FlowOod.Layers;
using FlowOod;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks;

/// <summary>
/// One image's 3×3 convolution at the compact RealNVP's two st-network shapes (32→32 at 28×28, 64→64 at 14×14): libtorch's
/// <c>conv2d</c> (channels last, the process's intra-op threads) against FlowOod's managed kernel (<see cref="HostConv"/>)
/// with one and two workers (<c>Parallel.For</c>) and split with the helper thread, in alternated rounds of one process; where
/// the kernel runs 512-bit vectors (AVX-512), its 256-bit kernel on one worker as well, and where the default is the Winograd
/// form, the direct kernel of the same width and the Winograd form with 2×2 tiles on one worker. Part of <c>./build.sh bench-fused</c>.
/// </summary>
/// <remarks>
/// Machine-readable line: <c>host-conv 3x3 CIN-&gt;COUT HxW batch 1: libtorch p50 N us | managed 1 worker p50 N us | 2 workers
/// p50 N us | libtorch / managed Rx (min–max over rounds, the faster worker count per round) | max |diff| E | ... | kernel
/// K | helper thread p50 N us | ... | direct B-bit 1 worker p50 N us | ... | 256-bit 1 worker p50 N us | ... | Winograd
/// 256-bit 1 worker p50 N us | ...</c>: K is the default (<c>Winograd F(4x4,3x3) 512-bit</c> or <c>256-bit</c>, or a
/// direct <c>512-bit</c> or <c>256-bit</c> kernel); the split with <see cref="HostHelper"/> (the inference path's, held
/// for the whole measurement; absent on one processor); the direct kernel of the default width B and, where the default
/// has 4×4 tiles, <c>Winograd F(2x2,3x3) B-bit 1 worker</c> (only where the default is the Winograd form); and, only
/// where the default uses 512-bit vectors, the 256-bit direct kernel and Winograd form on one worker. Each
/// variant's p50 is over <c>calls</c> calls; the managed kernel's result is checked against libtorch's first. The
/// managed timings exclude copying the image into the padded layout (a managed inference path keeps its feature maps
/// there between layers); libtorch's include allocating its output.
/// </remarks>
internal static class HostConvBench
{
    public static void Run(int rounds, int calls)
    {
        foreach (var (channels, size) in new[] { (32, 28), (64, 14) })
        {
            Measure(channels, size, rounds, calls);
        }
    }

    private static void Measure(int channels, int size, int rounds, int calls)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(5);
        var x = ConvLayout.ChannelsLast(randn([1, channels, size, size], generator: generator));
        var weight = randn([channels, channels, 3, 3], generator: generator).TimesInPlace(1 / (3 * Math.Sqrt(channels)));
        var bias = randn([channels], generator: generator);
        var weightLast = ConvLayout.ChannelsLast(weight);
        var conv = new HostConv(weight.contiguous().data<float>().ToArray(), bias.data<float>().ToArray(), channels, channels, 3);
        var input = new HostImage(channels, size, size);
        input.CopyFrom(x);
        var output = new HostImage(conv.PaddedOutChannels, size, size);

        conv.Run(input, output, accumulate: false, workers: 2);
        var expected = nn.functional.conv2d(x, weightLast, bias, padding: [1, 1]);
        var difference = output.ToTensor(channels).sub(expected).abs().max().item<float>();

        var libtorch = new List<double>();
        var one = new List<double>();
        var two = new List<double>();
        var narrow = new List<double>();
        var helped = new List<double>();
        var direct = new List<double>();
        var narrowWinograd = new List<double>();
        var smallTiles = new List<double>();
        bool wide = HostConv.DefaultWidth == HostVectorWidth.Bits512;
        bool winograd = HostConv.WinogradByDefault && conv.HasWinograd;
        int tile = HostConv.WinogradTile(size, size);
        for (int round = 0; round < rounds; round++)
        {
            double Time(Action call) => Latency.TimeCalls(call, calls).P50 * 1000;
            double TimeLibtorch() => Time(() =>
            {
                using var y = nn.functional.conv2d(x, weightLast, bias, padding: [1, 1]);
            });
            if (round % 2 == 1)
            {
                libtorch.Add(TimeLibtorch());
            }

            one.Add(Time(() => conv.Run(input, output, accumulate: false, workers: 1)));
            two.Add(Time(() => conv.Run(input, output, accumulate: false, workers: 2)));
            if (HostHelper.Shared is { } helper)
            {
                using var lease = helper.TryAcquire();
                helped.Add(Time(() => conv.Run(input, output, accumulate: false, lease)));
            }

            if (winograd)
            {
                direct.Add(Time(() => conv.Run(input, output, accumulate: false, workers: 1, HostConv.DefaultWidth)));
            }

            if (winograd && tile == 4)
            {
                smallTiles.Add(Time(() => conv.RunWinograd(input, output, accumulate: false, workers: 1, HostConv.DefaultWidth, tile: 2)));
            }

            if (wide)
            {
                narrow.Add(Time(() => conv.Run(input, output, accumulate: false, workers: 1, HostVectorWidth.Bits256)));
            }

            if (wide && winograd)
            {
                narrowWinograd.Add(Time(() => conv.RunWinograd(input, output, accumulate: false, workers: 1, HostVectorWidth.Bits256)));
            }

            if (round % 2 == 0)
            {
                libtorch.Add(TimeLibtorch());
            }
        }

        // " | NAME p50 N us (every round's)", or nothing for a variant this processor did not run.
        static string Field(string name, List<double> times) => times.Count == 0
            ? string.Empty
            : string.Create(CultureInfo.InvariantCulture, $" | {name} p50 {Peers.Median(times):F1} us ({Peers.Join(times)})");
        int bits = wide ? 512 : 256;
        var helperField = Field("helper thread", helped);
        var narrowField = Field("256-bit 1 worker", narrow) + Field("Winograd 256-bit 1 worker", narrowWinograd);
        var directField = Field($"direct {bits}-bit 1 worker", direct) + Field($"Winograd F(2x2,3x3) {bits}-bit 1 worker", smallTiles);
        var kernel = winograd ? $"Winograd F({tile}x{tile},3x3) {bits}-bit" : $"{bits}-bit";
        var ratios = libtorch.Select((t, i) => t / Math.Min(one[i], two[i])).ToArray();
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"host-conv 3x3 {channels}->{channels} {size}x{size} batch 1: libtorch p50 {Peers.Median(libtorch):F1} us | managed 1 worker p50 {Peers.Median(one):F1} us | "
            + $"2 workers p50 {Peers.Median(two):F1} us | libtorch / managed {Peers.Median(ratios):F2}x ({ratios.Min():F2}-{ratios.Max():F2} over {rounds} rounds) | "
            + $"max |diff| {difference:E1} | {2.0 * channels * channels * 9 * size * size / 1e6:F1} MFLOP | libtorch threads {get_num_threads()} | calls {calls} | "
            + $"rounds libtorch {Peers.Join(libtorch)} | 1 worker {Peers.Join(one)} | 2 workers {Peers.Join(two)} | kernel {kernel}{helperField}{directField}{narrowField}"));
    }
}
