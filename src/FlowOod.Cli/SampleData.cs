using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>
/// What both verbs start with: the TorchSharp runtime checked, the thread count set, the three data sets loaded. The
/// tool is an application and owns its process: <c>--threads</c> sets libtorch's process-wide intra-op count here,
/// once, before any work (the library itself never sets it; see <see cref="FlowCache.Build"/> for the seed).
/// </summary>
internal sealed record SampleData(ImageDataset FashionTrain, ImageDataset FashionTest, ImageDataset Mnist)
{
    public static SampleData Prepare(int threads, string? dataDirectory)
    {
        FlowOodRuntime.EnsureAvailable();
        if (threads > 0)
        {
            set_num_threads(threads);
        }

        return new SampleData(
            FlowOodDatasets.FashionMnist(DatasetSplit.Train, dataDirectory),
            FlowOodDatasets.FashionMnist(DatasetSplit.Test, dataDirectory),
            FlowOodDatasets.Mnist(DatasetSplit.Test, dataDirectory));
    }
}
