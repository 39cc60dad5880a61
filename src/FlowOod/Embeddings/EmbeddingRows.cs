using System;
using System.Globalization;
using static TorchSharp.torch;

namespace FlowOod.Embeddings;

/// <summary>
/// Checks of feature rows given as managed arrays or tensors: every problem is an <see cref="ArgumentException"/> naming
/// the parameter and, for managed rows, the row and value.
/// </summary>
internal static class EmbeddingRows
{
    /// <summary>The most values one row may have (2²⁴, the model file's bound on a dimension).</summary>
    public const int MaxDimension = Components.ComponentLimits.MaxCount;

    /// <summary>The most values a chunk may hold (2²⁸ float32, 1 GiB): chunk size × D.</summary>
    public const long MaxChunkValues = 1L << 28;

    /// <summary>Flattens jagged rows into one row-major array; <paramref name="dimension"/> null takes D from row 0.</summary>
    public static float[] Flatten(float[][] rows, int? dimension, string parameterName, out int count, out int width)
    {
        ArgumentNullException.ThrowIfNull(rows, parameterName);
        if (rows.Length == 0)
        {
            throw new ArgumentException("There are no rows.", parameterName);
        }

        width = dimension ?? (rows[0] ?? throw new ArgumentException("Row 0 is null.", parameterName)).Length;
        if (dimension is null)
        {
            CheckDimension(width, parameterName);
        }

        if ((long)rows.Length * width > Array.MaxLength)
        {
            throw new ArgumentException($"{rows.Length} rows of {width} values are more than one array holds.", parameterName);
        }

        count = rows.Length;
        CheckCounters.ValueRead();
        var flat = new float[rows.Length * width];
        for (int i = 0; i < rows.Length; i++)
        {
            var row = rows[i] ?? throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Row {i} is null."), parameterName);
            if (row.Length != width)
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"Row {i} has {row.Length} values; {(dimension is null ? "row 0 has" : "the detector takes")} {width} (the rows are ragged or of the wrong dimension)."),
                    parameterName);
            }

            CheckFinite(row, i, parameterName);
            row.CopyTo(flat, i * width);
        }

        return flat;
    }

    /// <summary>Checks flat row-major values: <paramref name="rowCount"/> ≥ 1 rows of <paramref name="dimension"/> finite values.</summary>
    public static void CheckFlat(ReadOnlySpan<float> values, int rowCount, int dimension, string parameterName)
    {
        if (rowCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(rowCount), rowCount, "The row count must be at least 1.");
        }

        if ((long)rowCount * dimension != values.Length)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"{values.Length} values are not {rowCount} rows of {dimension} (expected {(long)rowCount * dimension})."),
                parameterName);
        }

        CheckCounters.ValueRead();
        for (int i = 0; i < rowCount; i++)
        {
            CheckFinite(values.Slice(i * dimension, dimension), i, parameterName);
        }
    }

    /// <summary>Checks a tensor of rows: <c>[N, D]</c> (D = <paramref name="dimension"/> when known), N ≥ 1, float32, not meta, finite.</summary>
    public static void CheckTensor(Tensor rows, int? dimension, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(rows, parameterName);
        if (rows.Dimensions != 2 || (dimension is { } d && rows.size(1) != d))
        {
            throw new ArgumentException(
                $"Expected rows [N, {(dimension is { } dd ? dd.ToString(CultureInfo.InvariantCulture) : "D")}], got shape {Shapes.Format(rows.Sizes())}.", parameterName);
        }

        if (rows.size(0) == 0)
        {
            throw new ArgumentException("There are no rows.", parameterName);
        }

        if (dimension is null)
        {
            CheckDimension(rows.size(1), parameterName);
        }

        if (rows.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Expected float32 rows, got {rows.dtype}; convert with .to_type(ScalarType.Float32).", parameterName);
        }

        InputChecks.RejectMetaDevice(rows, "The rows", parameterName);
        var (min, max) = InputChecks.MinMaxOnHost(rows);
        if (double.IsNaN(min) || double.IsInfinity(min) || double.IsInfinity(max))
        {
            throw new ArgumentException("The rows contain NaN or infinite values.", parameterName);
        }
    }

    /// <summary>The values of checked rows <c>[N, D]</c> (float32), row-major, copied to managed memory.</summary>
    public static float[] ToArray(Tensor rows)
    {
        using var scope = NewDisposeScope();
        return rows.to(CPU).contiguous().data<float>().ToArray();
    }

    /// <summary>D must be 2 … 2²⁴ (a coupling flow needs two features).</summary>
    public static void CheckDimension(long dimension, string parameterName)
    {
        if (dimension is < 2 or > MaxDimension)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"A row has {dimension} values; an embedding detector takes 2 to {MaxDimension} (a coupling flow needs at least 2)."),
                parameterName);
        }
    }

    private static void CheckFinite(ReadOnlySpan<float> row, int index, string parameterName)
    {
        for (int j = 0; j < row.Length; j++)
        {
            if (!float.IsFinite(row[j]))
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"Row {index}, value {j} is {row[j]}; embeddings must be finite."), parameterName);
            }
        }
    }
}
