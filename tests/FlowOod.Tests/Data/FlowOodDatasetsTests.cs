using System;
using System.IO;
using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Data;

[Collection(EnvironmentTestsDefinition.Name)]
public sealed class FlowOodDatasetsTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void DataDirectory_VariableSet_ReturnsItsValue()
    {
        using var environment = new EnvironmentVariables()
            .Set(FlowOodDatasets.DataDirectoryVariable, _folder.Path)
            .Set("XDG_DATA_HOME", "/somewhere/else");

        FlowOodDatasets.DataDirectory.Should().Be(_folder.Path);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void DataDirectory_VariableUnsetOrEmpty_UsesXdgDataHome(string? value)
    {
        using var environment = new EnvironmentVariables()
            .Set(FlowOodDatasets.DataDirectoryVariable, value)
            .Set("XDG_DATA_HOME", _folder.Path);

        FlowOodDatasets.DataDirectory.Should().Be(Path.Combine(_folder.Path, "flowood", "datasets"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("relative/data")]
    public void DataDirectory_NoUsableXdgDataHome_UsesLocalShareInHome(string? xdgDataHome)
    {
        using var environment = new EnvironmentVariables()
            .Set(FlowOodDatasets.DataDirectoryVariable, null)
            .Set("XDG_DATA_HOME", xdgDataHome);
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

        FlowOodDatasets.DataDirectory.Should().Be(Path.Combine(home, ".local", "share", "flowood", "datasets"));
    }

    [Fact]
    public void Mnist_DataDirectoryFromVariable_LoadsFromItsMnistFolder()
    {
        _folder.Write(Path.Combine("mnist", "t10k-images-idx3-ubyte.gz"), IdxBytes.Gzip(IdxBytes.File([2, 1, 2], [1, 2, 3, 4])));
        _folder.Write(Path.Combine("mnist", "t10k-labels-idx1-ubyte.gz"), IdxBytes.Gzip(IdxBytes.File([2], [3, 8])));
        using var environment = new EnvironmentVariables().Set(FlowOodDatasets.DataDirectoryVariable, _folder.Path);

        var dataset = FlowOodDatasets.Mnist(DatasetSplit.Test);

        dataset.Name.Should().Be("MNIST test");
        dataset.Labels.ToArray().Should().Equal(3, 8);
    }

    [Fact]
    public void FashionMnist_ExplicitDirectory_LoadsFromItsFashionMnistFolder()
    {
        _folder.Write(Path.Combine("fashion-mnist", "train-images-idx3-ubyte"), IdxBytes.File([1, 2, 2], [1, 2, 3, 4]));
        _folder.Write(Path.Combine("fashion-mnist", "train-labels-idx1-ubyte"), IdxBytes.File([1], [5]));

        var dataset = FlowOodDatasets.FashionMnist(DatasetSplit.Train, _folder.Path);

        dataset.Name.Should().Be("Fashion-MNIST train");
        dataset.Pixels.ToArray().Should().Equal(1, 2, 3, 4);
    }

    [Fact]
    public void FashionMnist_FolderMissing_MessageSaysHowToPrepareIt()
    {
        var act = () => FlowOodDatasets.FashionMnist(DatasetSplit.Test, _folder.Path);

        act.Should().Throw<FileNotFoundException>()
            .WithMessage($"The Fashion-MNIST folder '{Path.Combine(_folder.Path, "fashion-mnist")}' does not exist. " +
                "Run './build.sh data' in the FlowOod repository*set FLOWOOD_DATA_DIR to a folder holding 'fashion-mnist/' and 'mnist/'*t10k-labels-idx1-ubyte*");
    }

    [Fact]
    public void Mnist_FilesMissing_MessageNamesThemAndSaysHowToPrepareThem()
    {
        Directory.CreateDirectory(_folder.Combine("mnist"));

        var act = () => FlowOodDatasets.Mnist(DatasetSplit.Train, _folder.Path);

        act.Should().Throw<FileNotFoundException>()
            .WithMessage("No train-split file found in*'train-images-idx3-ubyte' and 'train-images-idx3-ubyte.gz'. Run './build.sh data'*FLOWOOD_DATA_DIR*")
            .Which.InnerException.Should().BeOfType<FileNotFoundException>();
    }
}
