using System;
using System.IO;
using System.Linq;
using FlowOod.AspNetCore;
using FlowOod.Data;

namespace FlowOod.Cli;

/// <summary>
/// The in-distribution folders of <c>fit-detector</c> and <c>calibrate</c>: an IDX set (MNIST file names), or a folder
/// of 28×28 8-bit greyscale PNG files (read in file-name order; greyscale + alpha drops the alpha).
/// </summary>
internal static class ImageFolders
{
    /// <summary>Images' side length the built-in flows take.</summary>
    public const int Side = 28;

    /// <summary>Loads the IDX set (the <paramref name="preferred"/> split first) or the PNG files of <paramref name="folder"/>.</summary>
    /// <param name="option">The option that named the folder, for error messages.</param>
    public static ImageDataset Load(string folder, DatasetSplit preferred, string option)
    {
        var pngs = Directory.Exists(folder)
            ? Directory.GetFiles(folder).Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToArray()
            : [];
        if (pngs.Length == 0)
        {
            return OodSets.LoadFolder(folder, preferred);
        }

        var pixels = new byte[pngs.Length * Side * Side];
        for (var i = 0; i < pngs.Length; i++)
        {
            try
            {
                PngDecoder.Decode(File.ReadAllBytes(pngs[i]), channels: 1, Side, Side).CopyTo(pixels, i * Side * Side);
            }
            catch (BadInputException e)
            {
                throw new InvalidDataException($"{option}: '{pngs[i]}' cannot be used: {e.Message} ({Side}×{Side} greyscale PNG files are expected.)", e);
            }
        }

        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        return new ImageDataset($"{name} (PNG)", Side, Side, pixels, new byte[pngs.Length]);
    }
}
