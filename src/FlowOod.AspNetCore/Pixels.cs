using System;

namespace FlowOod.AspNetCore;

/// <summary>
/// The one place a request's pixel value v in 0..255 becomes the gate input v / 255 (as <c>ImageDataset.ToTensor</c>
/// does), whatever format it came in: raw bytes, PNG, or JSON numbers give bit-identical inputs.
/// </summary>
internal static class Pixels
{
    /// <summary>v / 255 in float32.</summary>
    public static float ToUnit(float value) => value / 255f;

    /// <summary>Each byte b becomes b / 255.</summary>
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
