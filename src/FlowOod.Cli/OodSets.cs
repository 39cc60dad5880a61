using System;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FlowOod.Samples.FashionMnist;

namespace FlowOod.Cli;

/// <summary>
/// Resolves an <c>--ood</c> value: a built-in set (<c>mnist</c>), a synthetic set made from the in-distribution test
/// images (<see cref="SyntheticOodSets.Names"/>), or a folder holding IDX files (the MNIST file names, test split
/// preferred, else train).
/// </summary>
internal static class OodSets
{
    /// <summary>The built-in sets loaded from the data directory.</summary>
    public static readonly string[] BuiltIn = ["mnist"];

    /// <summary>The default OOD sets of <c>evaluate</c> and <c>baseline</c>: MNIST, then every synthetic set.</summary>
    public static string[] Defaults => [.. BuiltIn, .. SyntheticOodSets.Names];

    /// <summary>Null when <paramref name="value"/> can be resolved, else a message naming the problem (no data is read).</summary>
    public static string? Check(string value)
    {
        if (BuiltIn.Contains(value) || SyntheticOodSets.IsName(value))
        {
            return null;
        }

        return Directory.Exists(value)
            ? null
            : $"--ood '{value}' is neither a built-in set ({string.Join(", ", BuiltIn)}), a synthetic set ({string.Join(", ", SyntheticOodSets.Names)}) nor an existing folder of IDX files.";
    }

    /// <summary>Loads the set named by <paramref name="value"/>; at most <paramref name="limit"/> images.</summary>
    /// <param name="value">A built-in or synthetic name, or a folder.</param>
    /// <param name="inDistributionTest">The in-distribution test images the synthetic sets are made from.</param>
    /// <param name="dataDirectory">The data directory of the built-in sets (null: the default).</param>
    /// <param name="limit">The most images kept.</param>
    /// <param name="seed">The seed of the random synthetic sets.</param>
    /// <exception cref="FileNotFoundException">A folder lacks IDX files.</exception>
    /// <exception cref="ArgumentException">The images are not the size of the in-distribution images.</exception>
    public static ImageDataset Load(string value, ImageDataset inDistributionTest, string? dataDirectory, int limit, int seed)
    {
        ArgumentNullException.ThrowIfNull(inDistributionTest);
        ImageDataset set;
        if (value == "mnist")
        {
            set = FlowOodDatasets.Mnist(DatasetSplit.Test, dataDirectory);
        }
        else if (SyntheticOodSets.IsName(value))
        {
            return SyntheticOodSets.Create(value, inDistributionTest.Take(Math.Min(limit, inDistributionTest.Count)), seed);
        }
        else
        {
            set = LoadFolder(value);
        }

        if (set.Height != inDistributionTest.Height || set.Width != inDistributionTest.Width)
        {
            throw new ArgumentException(
                $"The OOD set '{value}' holds {set.Height}×{set.Width} images; the in-distribution images are {inDistributionTest.Height}×{inDistributionTest.Width}.");
        }

        return set.Take(Math.Min(limit, set.Count));
    }

    /// <summary>
    /// The IDX set in <paramref name="folder"/>: the <paramref name="preferred"/> split's files (MNIST names), else the other
    /// split's.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder holds neither pair of files.</exception>
    public static ImageDataset LoadFolder(string folder, DatasetSplit preferred = DatasetSplit.Test)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        var other = preferred == DatasetSplit.Test ? DatasetSplit.Train : DatasetSplit.Test;
        try
        {
            return ImageDataset.LoadMnistFormat(folder, preferred, $"{name} {SplitName(preferred)}");
        }
        catch (FileNotFoundException)
        {
            try
            {
                return ImageDataset.LoadMnistFormat(folder, other, $"{name} {SplitName(other)}");
            }
            catch (FileNotFoundException e)
            {
                throw new FileNotFoundException(
                    $"The folder '{folder}' holds no IDX set: expected t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
                    + "(or the train-* pair), raw or .gz.", folder, e);
            }
        }
    }

    private static string SplitName(DatasetSplit split) => split == DatasetSplit.Test ? "test" : "train";
}
