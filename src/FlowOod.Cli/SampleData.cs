using FlowOod.Data;
using FlowOod.Samples.FashionMnist;
using static TorchSharp.torch;

namespace FlowOod.Cli;

/// <summary>What both verbs start with: the TorchSharp runtime checked, the thread count set, the three data sets loaded.</summary>
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
