using System;
using System.Linq;
using FlowOod.Layers;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Layers;

// HostConv and HostImage: one image's 1×1 / 3×3 "same" convolution in managed code against libtorch's conv2d, at the
// constant-stride channel counts and at run-time ones, with one and several workers, with the 256-bit and the 512-bit
// direct kernels and the Winograd form (what this processor lacks runs emulated), with the store's addend and ReLU; the
// layout's border; bad arguments.
public sealed class HostConvTests
{
    [Theory]
    [InlineData(32, 32, 3, 28, 28, 1)]
    [InlineData(64, 64, 3, 14, 14, 2)]
    [InlineData(2, 32, 3, 28, 28, 2)]
    [InlineData(32, 2, 1, 28, 28, 1)]
    [InlineData(64, 4, 1, 14, 14, 2)]
    [InlineData(5, 20, 3, 7, 9, 3)]
    [InlineData(16, 16, 3, 1, 1, 2)]
    [InlineData(128, 17, 3, 3, 5, 2)]
    [InlineData(3, 1, 3, 2, 13, 1)]
    public void Run_MatchesLibtorchConv2d(int inChannels, int outChannels, int kernelSize, int height, int width, int workers)
    {
        foreach (var vectors in Widths)
        {
            RunMatchesLibtorch(inChannels, outChannels, kernelSize, height, width, workers, vectors);
        }
    }

    [Theory]
    [InlineData(32, 32, 28, 28, 1, false)]
    [InlineData(64, 64, 14, 14, 2, false)]
    [InlineData(64, 64, 14, 14, 2, true)]
    [InlineData(32, 2, 28, 28, 1, false)]
    [InlineData(16, 16, 1, 1, 2, false)]
    [InlineData(128, 17, 3, 5, 2, true)]
    [InlineData(32, 20, 7, 9, 3, true)]
    [InlineData(16, 16, 5, 30, 1, false)]
    [InlineData(64, 64, 4, 4, 1, true)]
    [InlineData(16, 32, 10, 6, 2, true)]
    [InlineData(128, 16, 13, 11, 3, false)]
    [InlineData(64, 64, 30, 30, 3, true)]
    public void RunWinograd_MatchesLibtorchConv2d(int inChannels, int outChannels, int height, int width, int workers, bool accumulate)
    {
        foreach (var vectors in Widths)
        {
            foreach (int tile in height >= 4 && width >= 4 ? [2, 4] : new[] { 2 })
            {
                RunWinogradMatchesLibtorch(inChannels, outChannels, height, width, workers, accumulate, vectors, tile);
            }
        }
    }

    private static void RunWinogradMatchesLibtorch(int inChannels, int outChannels, int height, int width, int workers, bool accumulate, HostVectorWidth vectors, int tile)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(15);
        var x = randn([1, inChannels, height, width], generator: generator);
        var w = randn([outChannels, inChannels, 3, 3], generator: generator).TimesInPlace(1 / Math.Sqrt(inChannels * 9));
        var b = randn([outChannels], generator: generator);
        var previous = randn([1, outChannels, height, width], generator: generator);
        var expected = nn.functional.conv2d(x, w, b, padding: [1, 1]);
        var conv = new HostConv(Values(w), Values(b), inChannels, outChannels, 3);
        var input = new HostImage(inChannels, height, width);
        input.CopyFrom(x);
        var output = new HostImage(conv.PaddedOutChannels, height, width);
        if (accumulate)
        {
            output.CopyFrom(cat([previous, zeros([1, conv.PaddedOutChannels - outChannels, height, width])], 1));
            expected.PlusInPlace(previous);
        }

        conv.HasWinograd.Should().BeTrue("a 3×3 convolution of a multiple of 16 input channels");
        conv.RunWinograd(input, output, accumulate, workers, vectors, tile);

        MaxAbsDifference(output.ToTensor(outChannels), expected).Should().BeLessThan(WinogradTolerance(tile), "{0}, tiles of {1}, {2} × {3}", vectors, tile, height, width);
        var padding = output.ToTensor(conv.PaddedOutChannels).narrow(1, outChannels, conv.PaddedOutChannels - outChannels);
        padding.count_nonzero().item<long>().Should().Be(0, "the padding channels have zero weights and biases");
    }

    [Theory]
    [InlineData(32, 3, true)]
    [InlineData(16, 3, true)]
    [InlineData(8, 3, false)]
    [InlineData(20, 3, false)]
    [InlineData(32, 1, false)]
    public void HasWinograd_ExactlyFor3x3ConvolutionsOfMultiplesOf16InputChannels(int inChannels, int kernelSize, bool expected)
    {
        var conv = new HostConv(new float[16 * inChannels * kernelSize * kernelSize], ReadOnlySpan<float>.Empty, inChannels, 16, kernelSize);

        conv.HasWinograd.Should().Be(expected);
        if (!expected)
        {
            FluentActions.Invoking(() => conv.RunWinograd(new HostImage(inChannels, 4, 4), new HostImage(16, 4, 4), false, 1, HostConv.DefaultWidth)).Should().Throw<InvalidOperationException>();
        }
    }

    [Theory]
    [InlineData(28, 28, 4)]
    [InlineData(14, 14, 4)]
    [InlineData(4, 4, 4)]
    [InlineData(7, 9, 4)]
    [InlineData(6, 6, 2)]
    [InlineData(5, 5, 2)]
    [InlineData(3, 30, 2)]
    [InlineData(1, 1, 2)]
    public void WinogradTile_IsFourWhereFourByFourTilesNeedFewerProducts(int height, int width, int expected) =>
        HostConv.WinogradTile(height, width).Should().Be(expected);

    [Theory]
    [InlineData(4, 3, 8)]
    [InlineData(4, 8, 3)]
    [InlineData(3, 8, 8)]
    [InlineData(0, 8, 8)]
    public void RunWinograd_WithATileItCannotUse_Throws(int tile, int height, int width)
    {
        var conv = new HostConv(new float[16 * 16 * 9], ReadOnlySpan<float>.Empty, 16, 16, 3);

        FluentActions.Invoking(() => conv.RunWinograd(new HostImage(16, height, width), new HostImage(16, height, width), false, 1, HostConv.DefaultWidth, tile))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(tile));
    }

    [Fact]
    public void DefaultWidth_Is512BitsExactlyWhereTheProcessorRunsThemNatively() =>
        HostConv.DefaultWidth.Should().Be(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? HostVectorWidth.Bits512 : HostVectorWidth.Bits256);

    private static readonly HostVectorWidth[] Widths = [HostVectorWidth.Bits256, HostVectorWidth.Bits512];

    // Max |difference| from libtorch on outputs of about unit size: F(4×4, 3×3)'s transforms (entries up to 8) lose a few
    // more bits than F(2×2, 3×3)'s (3.2e-5 seen at 64 channels, 14 × 14, against < 2e-5).
    private static double WinogradTolerance(int tile) => tile == 4 ? 1e-4 : 2e-5;

    private static void RunMatchesLibtorch(int inChannels, int outChannels, int kernelSize, int height, int width, int workers, HostVectorWidth vectors)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(11);
        var x = randn([1, inChannels, height, width], generator: generator);
        var w = randn([outChannels, inChannels, kernelSize, kernelSize], generator: generator).TimesInPlace(1 / Math.Sqrt(inChannels * kernelSize * kernelSize));
        var b = randn([outChannels], generator: generator);
        var expected = nn.functional.conv2d(x, w, b, padding: [kernelSize / 2, kernelSize / 2]);

        var conv = new HostConv(Values(w), Values(b), inChannels, outChannels, kernelSize);
        var input = new HostImage(inChannels, height, width);
        input.CopyFrom(x);
        var output = new HostImage(conv.PaddedOutChannels, height, width);
        conv.Run(input, output, accumulate: false, workers, vectors);

        var got = output.ToTensor(outChannels);
        got.shape.Should().Equal(expected.shape);
        MaxAbsDifference(got, expected).Should().BeLessThan(2e-5, "the {0} kernel", vectors);
        var padding = output.ToTensor(conv.PaddedOutChannels).narrow(1, outChannels, conv.PaddedOutChannels - outChannels);
        padding.count_nonzero().item<long>().Should().Be(0, "the padding channels have zero weights and biases");
    }

    [Theory]
    [InlineData(256)]
    [InlineData(512)]
    public void Run_Accumulating_AddsTheConvolutionToTheOutputsValues(int bits)
    {
        var vectors = bits == 512 ? HostVectorWidth.Bits512 : HostVectorWidth.Bits256;
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(12);
        var x = randn([1, 32, 6, 7], generator: generator);
        var w = randn([16, 32, 3, 3], generator: generator).TimesInPlace(1.0 / 17);
        var b = randn([16], generator: generator);
        var previous = randn([1, 16, 6, 7], generator: generator);
        var expected = nn.functional.conv2d(x, w, b, padding: [1, 1]).PlusInPlace(previous);

        var conv = new HostConv(Values(w), Values(b), 32, 16, 3);
        var input = new HostImage(32, 6, 7);
        input.CopyFrom(x);
        var output = new HostImage(16, 6, 7);
        output.CopyFrom(previous);
        conv.Run(input, output, accumulate: true, workers: 2, vectors);

        MaxAbsDifference(output.ToTensor(16), expected).Should().BeLessThan(2e-5);
    }

    [Theory]
    [InlineData("default", 64, 64, 14, 14)]
    [InlineData("default", 32, 20, 7, 9)]
    [InlineData("256-bit", 32, 32, 6, 7)]
    [InlineData("512-bit", 32, 32, 6, 7)]
    [InlineData("512-bit", 5, 17, 5, 3)]
    public void Run_WithAnAddendAndReLU_StoresReLUOfTheConvolutionPlusTheAddend(string kernel, int inChannels, int outChannels, int height, int width)
    {
        HostVectorWidth? direct = kernel switch { "256-bit" => HostVectorWidth.Bits256, "512-bit" => HostVectorWidth.Bits512, _ => null };
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(16);
        var x = randn([1, inChannels, height, width], generator: generator);
        var w = randn([outChannels, inChannels, 3, 3], generator: generator).TimesInPlace(1 / Math.Sqrt(inChannels * 9));
        var b = randn([outChannels], generator: generator);
        var conv = new HostConv(Values(w), Values(b), inChannels, outChannels, 3);
        var added = randn([1, conv.PaddedOutChannels, height, width], generator: generator);
        var expected = nn.functional.conv2d(x, w, b, padding: [1, 1]).PlusInPlace(added.narrow(1, 0, outChannels)).relu_();
        var input = new HostImage(inChannels, height, width);
        input.CopyFrom(x);
        var addend = new HostImage(conv.PaddedOutChannels, height, width);
        addend.CopyFrom(added);
        var before = (float[])addend.Data.Clone();
        var output = new HostImage(conv.PaddedOutChannels, height, width);

        conv.Run(input, output, addend, relu: true, default, direct);

        double tolerance = direct is null ? WinogradTolerance(HostConv.WinogradTile(height, width)) : 2e-5;
        MaxAbsDifference(output.ToTensor(outChannels), expected).Should().BeLessThan(tolerance, "the {0} kernel", kernel);
        addend.Data.Should().Equal(before, "the addend is only read");
        var alone = new HostImage(conv.PaddedOutChannels, height, width);
        conv.Run(input, alone, addend: null, relu: true, default, direct);
        MaxAbsDifference(alone.ToTensor(outChannels), nn.functional.conv2d(x, w, b, padding: [1, 1]).relu_()).Should().BeLessThan(tolerance);
        FluentActions.Invoking(() => conv.Run(input, output, new HostImage(conv.PaddedOutChannels, height + 1, width), false, default, direct))
            .Should().Throw<ArgumentException>().WithParameterName("addend");
    }

    [Fact]
    public void Run_WithoutBias_ComputesTheConvolutionAlone()
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(13);
        var x = randn([1, 4, 5, 5], generator: generator);
        var w = randn([8, 4, 3, 3], generator: generator);
        var expected = nn.functional.conv2d(x, w, padding: [1, 1]);

        var conv = new HostConv(Values(w), ReadOnlySpan<float>.Empty, 4, 8, 3);
        var input = new HostImage(4, 5, 5);
        input.CopyFrom(x);
        var output = new HostImage(16, 5, 5);
        conv.Run(input, output, accumulate: false, workers: 1);

        MaxAbsDifference(output.ToTensor(8), expected).Should().BeLessThan(1e-4);
    }

    [Fact]
    public void ClearBorder_ZeroesTheBorderAndSlack_AndKeepsTheInterior()
    {
        var image = new HostImage(3, 4, 5);
        Array.Fill(image.Data, 7f);

        image.ClearBorder();

        var interior = Enumerable.Range(0, 4).SelectMany(y => Enumerable.Range(0, 5).SelectMany(x => Enumerable.Range(image.Offset(y, x), 3))).ToHashSet();
        for (int k = 0; k < image.Data.Length; k++)
        {
            image.Data[k].Should().Be(interior.Contains(k) ? 7f : 0f, "element {0} is {1}", k, interior.Contains(k) ? "inside" : "border");
        }
    }

    [Fact]
    public void CopyFromAndToTensor_RoundTripAnImage()
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(14);
        var x = randn([1, 3, 4, 6], generator: generator);
        var image = new HostImage(3, 4, 6);

        image.CopyFrom(x);

        image.ToTensor(3).allclose(x, rtol: 0, atol: 0).Should().BeTrue();
        image.ToTensor(2).allclose(x.narrow(1, 0, 2), rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void BadArguments_ThrowNamingTheParameter()
    {
        using var scope = NewDisposeScope();
        var weights = new float[8 * 4 * 9];
        var conv = new HostConv(weights, ReadOnlySpan<float>.Empty, 4, 8, 3);
        var input = new HostImage(4, 5, 5);

        FluentActions.Invoking(() => new HostConv(weights, ReadOnlySpan<float>.Empty, 4, 8, 2)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("kernelSize");
        FluentActions.Invoking(() => new HostConv(weights, ReadOnlySpan<float>.Empty, 4, 9, 3)).Should().Throw<ArgumentException>().WithParameterName("weight");
        FluentActions.Invoking(() => new HostConv(weights, new float[3], 4, 8, 3)).Should().Throw<ArgumentException>().WithParameterName("bias");
        FluentActions.Invoking(() => conv.Run(new HostImage(5, 5, 5), new HostImage(16, 5, 5), false, 1)).Should().Throw<ArgumentException>().WithParameterName("input");
        FluentActions.Invoking(() => conv.Run(input, new HostImage(8, 5, 5), false, 1)).Should().Throw<ArgumentException>().WithParameterName("output");
        FluentActions.Invoking(() => conv.Run(input, new HostImage(16, 5, 6), false, 1)).Should().Throw<ArgumentException>().WithParameterName("output");
        FluentActions.Invoking(() => conv.Run(input, new HostImage(16, 5, 5), false, 0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("workers");
        FluentActions.Invoking(() => conv.Run(input, new HostImage(16, 5, 5), false, 1, (HostVectorWidth)7)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("width");
        var square = new HostConv(new float[16 * 16 * 9], ReadOnlySpan<float>.Empty, 16, 16, 3);
        var same = new HostImage(16, 3, 3);
        FluentActions.Invoking(() => square.Run(same, same, false, 1)).Should().Throw<ArgumentException>().WithParameterName("output");
        FluentActions.Invoking(() => new HostImage(1 << 20, 1 << 10, 1 << 10)).Should().Throw<ArgumentException>().WithParameterName("channels");
        FluentActions.Invoking(() => input.CopyFrom(zeros(1, 4, 5, 6))).Should().Throw<ArgumentException>().WithParameterName("image");
        FluentActions.Invoking(() => input.CopyFrom(zeros(1, 4, 5, 5, dtype: ScalarType.Float64))).Should().Throw<ArgumentException>().WithParameterName("image");
    }

    internal static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    private static double MaxAbsDifference(Tensor a, Tensor b)
    {
        using var difference = a.sub(b);
        using var absolute = difference.abs();
        using var max = absolute.max();
        return max.item<float>();
    }
}
