using FlowOod.Precision;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Precision;

public sealed class ProcessorInfoTests
{
    private const string Epyc = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n";

    [Fact]
    public void Parse_CpuInfoWithAvx512Bf16_HasNativeBf16WithoutAmx()
    {
        var info = ProcessorInfo.Parse(Epyc);

        info.Model.Should().Be("AMD EPYC");
        info.Flags.Should().Contain(["avx2", "avx512_bf16"]);
        info.HasNativeBFloat16.Should().BeTrue();
        info.HasAmxBFloat16.Should().BeFalse();
        info.Describe().Should().Be("AMD EPYC | flags avx2 fma avx512f avx512_vnni avx512_bf16");
    }

    [Fact]
    public void Parse_CpuInfoWithAmx_HasBoth()
    {
        var info = ProcessorInfo.Parse("model name : Intel(R) Xeon(R) Platinum\nflags : avx2 avx512f amx_tile amx_bf16\n");

        info.HasNativeBFloat16.Should().BeTrue();
        info.HasAmxBFloat16.Should().BeTrue();
    }

    [Fact]
    public void Parse_WithoutBf16OrFlags_SaysSo()
    {
        var older = ProcessorInfo.Parse("model name : Old\nflags : sse2 avx\n");
        var silent = ProcessorInfo.Parse(string.Empty);

        older.HasNativeBFloat16.Should().BeFalse();
        older.Describe().Should().Be("Old | flags none of avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16");
        silent.Model.Should().Be("unknown");
        silent.Describe().Should().Be("unknown | flags not listed by this system");
    }

    [Fact]
    public void Current_NamesAModel()
    {
        ProcessorInfo.Current.Model.Should().NotBeNullOrWhiteSpace();
        ProcessorInfo.Current.Should().BeSameAs(ProcessorInfo.Current);
    }
}
