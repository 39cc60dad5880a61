using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Data;

// Runs against the real Fashion-MNIST files in the data directory, which the build script prepares.
[Collection(EnvironmentTestsDefinition.Name)]
public sealed class FashionMnistDataTests
{
    [Fact]
    public void FashionMnist_TestSplit_LoadsTenThousandLabelledImages()
    {
        var folder = Path.Combine(FlowOodDatasets.DataDirectory, "fashion-mnist");
        if (!Directory.Exists(folder))
        {
            Assert.Fail(
                $"Fashion-MNIST is not in '{folder}'. Run './build.sh data' in the repository, or set " +
                $"{FlowOodDatasets.DataDirectoryVariable} to a folder whose 'fashion-mnist/' subfolder holds the four standard IDX files.");
        }

        var dataset = FlowOodDatasets.FashionMnist(DatasetSplit.Test);

        dataset.Count.Should().Be(10_000);
        dataset.Height.Should().Be(28);
        dataset.Width.Should().Be(28);
        dataset.Pixels.Length.Should().Be(10_000 * 28 * 28);
        var labels = dataset.Labels.ToArray();
        labels.Distinct().Order().Should().Equal(Enumerable.Range(0, 10).Select(i => (byte)i));
        labels.Should().OnlyContain(label => label < 10);
    }
}
