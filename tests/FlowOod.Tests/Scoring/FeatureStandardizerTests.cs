using System;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class FeatureStandardizerTests
{
    [Fact]
    public void Fit_ThreeRows_GivesPopulationMeanAndStandardDeviation()
    {
        using var scope = NewDisposeScope();
        var features = tensor(new double[] { 1, 10, 3, 10, 5, 16 }, [3, 2]);

        var standardizer = FeatureStandardizer.Fit(features);

        // Column 0: mean 3, deviations −2, 0, 2 → variance 8/3. Column 1: mean 12, deviations −2, −2, 4 → variance 8.
        standardizer.FeatureDimension.Should().Be(2);
        standardizer.Mean.Should().Equal(3, 12);
        standardizer.StandardDeviation[0].Should().BeApproximately(Math.Sqrt(8.0 / 3), 1e-15);
        standardizer.StandardDeviation[1].Should().BeApproximately(Math.Sqrt(8.0), 1e-15);
        var z = standardizer.Apply(features).data<double>().ToArray();
        z[0].Should().BeApproximately(-2 / Math.Sqrt(8.0 / 3), 1e-15);
        z[5].Should().BeApproximately(4 / Math.Sqrt(8.0), 1e-15);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    public void Apply_FittedData_HasZeroMeanUnitSpreadAndKeepsDtype(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var features = randn(500, 4, dtype: dtype).mul_(tensor(new[] { 0.01, 1, 100, 5 }).to_type(dtype)).PlusInPlace(7);

        var z = FeatureStandardizer.Fit(features).Apply(features);

        z.dtype.Should().Be(dtype);
        z.shape.Should().Equal(500, 4);
        var tolerance = dtype == ScalarType.Float32 ? 1e-5 : 1e-12;
        z.mean([0L]).abs().max().ReadDouble().Should().BeLessThan(tolerance);
        z.std(0, unbiased: false).Minus(1).abs().max().ReadDouble().Should().BeLessThan(tolerance);
    }

    [Fact]
    public void Fit_ConstantFeature_UsesTheRelativeFloorAndFlagsDepartures()
    {
        using var scope = NewDisposeScope();
        var features = tensor(new double[] { 0, 2, 0, 4, 0, 6, 0, 8 }, [4, 2]);

        var standardizer = FeatureStandardizer.Fit(features);

        var largest = Math.Sqrt(5.0);
        standardizer.StandardDeviation[0].Should().Be(FeatureStandardizer.RelativeFloor * largest);
        var z = standardizer.Apply(tensor(new double[] { 0, 5, 0.5, 5 }, [2, 2])).data<double>().ToArray();
        z[0].Should().Be(0);
        z[2].Should().BeApproximately(0.5 / (1e-6 * largest), 1e-3, "a departure from a constant feature is a large standardised value");
    }

    [Fact]
    public void Fit_EveryFeatureConstant_Throws()
    {
        using var scope = NewDisposeScope();

        var act = () => FeatureStandardizer.Fit(ones(5, 3));

        act.Should().Throw<ArgumentException>().WithMessage("*3 features is constant*5 rows*");
    }

    [Fact]
    public void Fit_OneRow_Throws()
    {
        using var scope = NewDisposeScope();

        var act = () => FeatureStandardizer.Fit(ones(1, 3));

        act.Should().Throw<ArgumentException>().WithMessage("*at least 2 rows*got 1*");
    }

    public static TheoryData<string, string> BadFeatures() => new()
    {
        { "rank 1", "*[N, D]*[6]*" },
        { "rank 3", "*[N, D]*[2, 3, 1]*" },
        { "wrong D", "*3 features per row*[2, 4]*" },
        { "int64", "*float32 or float64*Int64*" },
        { "NaN", "*NaN or infinite*" },
        { "infinity", "*NaN or infinite*" },
        { "meta device", "*meta device*" },
    };

    [Theory]
    [MemberData(nameof(BadFeatures))]
    public void Apply_BadFeatures_ThrowsArgumentExceptionNamingTheProblem(string problem, string message)
    {
        using var scope = NewDisposeScope();
        var standardizer = new FeatureStandardizer([0.0, 1, 2], [1.0, 2, 3]);
        var features = problem switch
        {
            "rank 1" => zeros(6),
            "rank 3" => zeros(2, 3, 1),
            "wrong D" => zeros(2, 4),
            "int64" => zeros(2, 3, dtype: ScalarType.Int64),
            "NaN" => tensor(new[] { 0f, float.NaN, 1, 2, 3, 4 }, [2, 3]),
            "infinity" => tensor(new[] { 0f, 1, 1, 2, float.NegativeInfinity, 4 }, [2, 3]),
            "meta device" => zeros(2, 3).to(new Device(DeviceType.META)),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };

        var act = () => standardizer.Apply(features);

        act.Should().Throw<ArgumentException>().WithMessage(message).Which.ParamName.Should().Be("features");
    }

    public static TheoryData<double[], double[], string> BadStates() => new()
    {
        { [], [], "*at least one feature*" },
        { [0, 1], [1], "*2 features*standard deviation has 1*" },
        { [0, double.NaN], [1, 1], "*mean of feature 1 is NaN*" },
        { [0, 1], [1, 0], "*standard deviation of feature 1 is 0*positive*" },
        { [0, 1], [-1, 1], "*standard deviation of feature 0 is -1*" },
        { [0, 1], [1, double.PositiveInfinity], "*standard deviation of feature 1*finite*" },
    };

    [Theory]
    [MemberData(nameof(BadStates))]
    public void Constructor_BadState_ThrowsArgumentException(double[] mean, double[] standardDeviation, string message)
    {
        var act = () => new FeatureStandardizer(mean, standardDeviation);

        act.Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Constructor_FromFittedState_AppliesIdentically()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(4);
        var features = randn(50, 3).TimesInPlace(3).PlusInPlace(1);
        var fitted = FeatureStandardizer.Fit(features);

        var reloaded = new FeatureStandardizer(fitted.Mean, fitted.StandardDeviation);

        reloaded.Apply(features).eq(fitted.Apply(features)).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void Constructor_CopiesItsInput()
    {
        var mean = new double[] { 1, 2 };
        var standardizer = new FeatureStandardizer(mean, [1.0, 1]);

        mean[0] = 100;

        standardizer.Mean.Should().Equal(1, 2);
        standardizer.Mean.Should().NotBeAssignableTo<double[]>();
    }
}
