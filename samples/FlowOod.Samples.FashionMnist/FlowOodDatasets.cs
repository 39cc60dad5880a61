using System;
using System.IO;
using FlowOod.Data;

namespace FlowOod.Samples.FashionMnist;

/// <summary>
/// The datasets this repository's samples and tests use, loaded from one data directory. Nothing is downloaded: the
/// files must already be there. Part of the sample, not of the FlowOod package (whose generic reader is
/// <see cref="ImageDataset.LoadMnistFormat"/>); the tests compile it in by a link.
/// </summary>
/// <remarks>
/// The data directory holds one folder per dataset, <c>fashion-mnist/</c> and <c>mnist/</c>, each with the four
/// standard IDX files (<c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c>,
/// <c>t10k-labels-idx1-ubyte</c>), raw or with a <c>.gz</c> suffix. Running <c>./build.sh data</c> in the FlowOod
/// repository prepares it.
/// </remarks>
internal static class FlowOodDatasets
{
    /// <summary>The environment variable that overrides <see cref="DataDirectory"/>.</summary>
    public const string DataDirectoryVariable = "FLOWOOD_DATA_DIR";

    /// <summary>
    /// The data directory: the value of <c>FLOWOOD_DATA_DIR</c> when set and non-empty; otherwise
    /// <c>$XDG_DATA_HOME/flowood/datasets</c> when <c>XDG_DATA_HOME</c> is an absolute path; otherwise
    /// <c>~/.local/share/flowood/datasets</c>. Read from the environment on every access.
    /// </summary>
    public static string DataDirectory
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable(DataDirectoryVariable);
            if (!string.IsNullOrEmpty(configured))
            {
                return configured;
            }

            var dataHome = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
            if (string.IsNullOrEmpty(dataHome) || !Path.IsPathFullyQualified(dataHome))
            {
                dataHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
            }

            return Path.Combine(dataHome, "flowood", "datasets");
        }
    }

    /// <summary>Loads a split of Fashion-MNIST (28×28 images of clothing, labels 0 to 9) from <c>fashion-mnist/</c>.</summary>
    /// <param name="split">Which split to load.</param>
    /// <param name="directory">The data directory; <see cref="DataDirectory"/> when null.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="FileNotFoundException">The files are missing; the message says how to prepare them.</exception>
    /// <exception cref="IdxFormatException">A file is malformed.</exception>
    public static ImageDataset FashionMnist(DatasetSplit split, string? directory = null) =>
        Load("fashion-mnist", "Fashion-MNIST", split, directory);

    /// <summary>Loads a split of MNIST (28×28 images of handwritten digits, labels 0 to 9) from <c>mnist/</c>.</summary>
    /// <param name="split">Which split to load.</param>
    /// <param name="directory">The data directory; <see cref="DataDirectory"/> when null.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="FileNotFoundException">The files are missing; the message says how to prepare them.</exception>
    /// <exception cref="IdxFormatException">A file is malformed.</exception>
    public static ImageDataset Mnist(DatasetSplit split, string? directory = null) =>
        Load("mnist", "MNIST", split, directory);

    private static ImageDataset Load(string folder, string displayName, DatasetSplit split, string? directory)
    {
        var root = directory ?? DataDirectory;
        var path = Path.Combine(root, folder);
        var name = $"{displayName} {split.ToString().ToLowerInvariant()}";
        var howTo =
            $"Run './build.sh data' in the FlowOod repository to prepare the data directory, or set {DataDirectoryVariable} to a " +
            "folder holding 'fashion-mnist/' and 'mnist/', each with the four standard IDX files (train-images-idx3-ubyte, " +
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally gzip-compressed as *.gz).";
        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"The {displayName} folder '{path}' does not exist. {howTo}", path);
        }

        try
        {
            return ImageDataset.LoadMnistFormat(path, split, name);
        }
        catch (FileNotFoundException e)
        {
            throw new FileNotFoundException($"{e.Message} {howTo}", e.FileName, e);
        }
    }
}
