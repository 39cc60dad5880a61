using FlowOod.Benchmarks;
using FlowOod.Models;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Benchmarks;

// The benchmark's FLOP count, checked against the compact RealNVP's architecture counted by hand.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FlopCountTests
{
    [Fact]
    public void ForwardPerExample_CompactRealNvp_MatchesTheHandCount()
    {
        // One ResNet st-network (width w, 2 blocks) on an H·W map with Cin conditioning and Cout output channels:
        //   stem 3×3 2Cin→w: 2·2Cin·9·w·HW; in_skip 1×1 w→w: 2·w²·HW; per block two 3×3 w→w (2·9·w²·HW each) and a
        //   1×1 skip (2·w²·HW); out 1×1 w→Cout: 2·w·Cout·HW.
        // Scale 1, 28×28, w = 32, Cin 1, Cout 2: 903,168 + 1,605,632 + 2·(2·14,450,688 + 1,605,632) + 100,352
        //   = 63,623,168 per coupling, 3 couplings. After the squeeze, 14×14, w = 64: the 3 channel-wise couplings
        //   (Cin 2, Cout 4) and the 4 checkerboard couplings on the kept half (Cin 2, Cout 4) cost the same
        //   63,623,168 each. Total 10 · 63,623,168 = 636,231,680.
        random.manual_seed(3);
        using var flow = RealNvp.Create([1, 28, 28], RealNvpOptions.Compact);
        using var scope = NewDisposeScope();
        var example = rand(1, 1, 28, 28).TimesInPlace(255).floor_().DivideInPlace(255);

        var layers = FlopCount.Layers(flow, example);

        FlopCount.ForwardPerExample(layers).Should().Be(636_231_680);
        layers.Should().HaveCount(10 * 9, "ten st-networks of a stem, an input skip, two blocks of two convolutions and a skip each, and an output");
    }

    [Fact]
    public void Layers_SecondCount_SeesOnlyItsOwnPass()
    {
        random.manual_seed(3);
        using var flow = Glow.Create([1, 8, 8], GlowOptions.Tiny);
        using var scope = NewDisposeScope();
        var example = rand(1, 1, 8, 8).TimesInPlace(255).floor_().DivideInPlace(255);
        FlowOod.Bijectors.ActNorm.InitializeAll(flow, rand(16, 1, 8, 8).TimesInPlace(255).floor_().DivideInPlace(255));

        var first = FlopCount.Layers(flow, example);
        var second = FlopCount.Layers(flow, example);

        second.Should().Equal(first, "the hooks of the first count are removed after it");
        first.Should().NotBeEmpty();
    }
}
