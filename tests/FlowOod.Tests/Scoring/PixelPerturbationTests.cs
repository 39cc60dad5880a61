using System;
using System.Linq;
using FlowOod.Scoring;
using FluentAssertions;
using MathNet.Numerics.Distributions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

public sealed class PixelPerturbationTests
{
    // An off-grid constant: every replaced entry (a level k/255) differs from it, so "changed" means "replaced".
    private const double OffGrid = 0.3 / 255;

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Constructor_RateOutsideUnitInterval_ThrowsArgumentOutOfRange(double rate)
    {
        var act = () => new PixelPerturbation(rate);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*[0, 1]*");
    }

    [Fact]
    public void Apply_RateZero_ReturnsAnExactNewCopy()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(1);
        var images = rand(4, 1, 8, 8, generator: generator);

        var perturbed = new PixelPerturbation(0).Apply(images, generator);

        perturbed.Handle.Should().NotBe(images.Handle, "Apply returns a new tensor");
        perturbed.data<float>().ToArray().Should().Equal(images.data<float>().ToArray());
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.2)]
    [InlineData(0.3)]
    public void Apply_Rate_ReplacesThatFractionWithinBinomialError(double rate)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(2);
        var images = TestScalars.Full([64, 1, 28, 28], OffGrid, ScalarType.Float64);
        var n = (double)images.numel();

        var perturbed = new PixelPerturbation(rate).Apply(images, generator);

        var fraction = perturbed.ne(images).sum().ReadDouble() / n;
        var standardError = Math.Sqrt(rate * (1 - rate) / n);
        fraction.Should().BeApproximately(rate, 5 * standardError);
        using var offGrid = OffGrid.ToScalar();
        images.eq(offGrid).all().ReadBoolean().Should().BeTrue("the input is not modified");
    }

    [Fact]
    public void Apply_RateOne_GivesEvery8BitLevelUniformly()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var images = TestScalars.Full([400, 1, 28, 28], OffGrid);   // 313,600 entries, ~1225 per level

        var perturbed = new PixelPerturbation(1).Apply(images, generator);

        var scaled = perturbed.to(ScalarType.Float64).Times(255);
        scaled.sub(scaled.round()).abs().max().ReadDouble().Should().BeLessThan(1e-4, "replaced entries are levels k/255");
        var counts = bincount(scaled.round().to(ScalarType.Int64).flatten(), minlength: 256).data<long>().ToArray();
        counts.Should().HaveCount(256).And.OnlyContain(c => c > 0);
        var expected = (double)perturbed.numel() / 256;
        var chiSquare = counts.Sum(c => (c - expected) * (c - expected) / expected);
        chiSquare.Should().BeLessThan(ChiSquared.InvCDF(255, 0.9999), "the levels are uniform over {0, …, 255}");
    }

    [Fact]
    public void Apply_ImagesOnTheGrid_StayOnTheGrid()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(4);
        var images = randint(0, 256, [16, 3, 8, 8], dtype: ScalarType.Float32, generator: generator).DivideInPlace(255);

        var perturbed = new PixelPerturbation(0.3).Apply(images, generator);

        perturbed.dtype.Should().Be(ScalarType.Float32);
        perturbed.shape.Should().Equal(16, 3, 8, 8);
        var scaled = perturbed.to(ScalarType.Float64).Times(255);
        scaled.sub(scaled.round()).abs().max().ReadDouble().Should().BeLessThan(1e-4);
        perturbed.min().ReadDouble().Should().BeGreaterThanOrEqualTo(0);
        perturbed.max().ReadDouble().Should().BeLessThanOrEqualTo(1);
    }

    [Fact]
    public void Apply_SameSeed_SameResult_OtherSeed_Differs()
    {
        using var scope = NewDisposeScope();
        var images = TestScalars.Full([8, 1, 8, 8], OffGrid);
        var perturbation = new PixelPerturbation(0.5);

        float[] Run(ulong seed)
        {
            using var generator = new Generator(seed);
            return perturbation.Apply(images, generator).data<float>().ToArray();
        }

        Run(7).Should().Equal(Run(7));
        Run(8).Should().NotEqual(Run(7));
    }

    [Fact]
    public void Apply_EmptyBatch_ReturnsEmptyBatch()
    {
        using var scope = NewDisposeScope();

        var perturbed = new PixelPerturbation(0.2).Apply(zeros(0, 1, 8, 8));

        perturbed.shape.Should().Equal(0, 1, 8, 8);
    }

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "int32", "*float32 or float64*Int32*" },
        { "NaN", "*NaN*" },
        { "above 1", "*[0, 1]*" },
        { "below 0", "*[0, 1]*" },
        { "scalar", "*scalar*" },
        { "meta device", "*meta device*" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Apply_BadInput_ThrowsArgumentExceptionNamingTheProblem(string problem, string message)
    {
        using var scope = NewDisposeScope();
        var images = problem switch
        {
            "int32" => zeros([2, 1, 4, 4], dtype: ScalarType.Int32),
            "NaN" => TestScalars.Full([2, 1, 4, 4], float.NaN),
            "above 1" => TestScalars.Full([2, 1, 4, 4], 1.5f),
            "below 0" => TestScalars.Full([2, 1, 4, 4], -0.5f),
            "scalar" => tensor(0.5f),
            "meta device" => TestScalars.Full([2, 1, 4, 4], 0.5f).to(new Device(DeviceType.META)),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };

        var act = () => new PixelPerturbation(0.2).Apply(images);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }
}
