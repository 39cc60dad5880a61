using System;

namespace FlowOod.Data;

/// <summary>
/// The one conversion of 8-bit pixel values to the [0, 1] inputs FlowOod's image flows and gates take: v ↦ v / 255 in
/// float32 (correctly rounded), used by <see cref="ImageDataset.ToTensor"/> and by the serving package for raw, PNG and
/// JSON request bodies, so every path gives bit-identical inputs.
/// </summary>
public static class PixelScale
{
    /// <summary>v / 255 in float32: a pixel value v in 0…255 (JSON bodies may give any number in that range) as an input in [0, 1].</summary>
    /// <param name="value">The pixel value, 0…255 (not checked).</param>
    /// <returns><paramref name="value"/> / 255.</returns>
    public static float ToUnit(float value) => value / 255f;

    /// <summary>Each byte b becomes b / 255 (float32), in order.</summary>
    /// <param name="bytes">8-bit pixel values.</param>
    /// <returns>A new array of <c>bytes.Length</c> values in [0, 1].</returns>
    public static float[] ToUnit(ReadOnlySpan<byte> bytes)
    {
        var values = new float[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            values[i] = ToUnit(bytes[i]);
        }

        return values;
    }
}
