using System;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod;

/// <summary>Checks of input tensors shared by the validators: no libtorch error for a meta tensor, one host sync for a range.</summary>
internal static class InputChecks
{
    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the device when <paramref name="input"/> is on libtorch's meta
    /// device: a meta tensor has a shape but no values, so no value check (and no computation) can run on it.
    /// </summary>
    public static void RejectMetaDevice(Tensor input, string what, string parameterName)
    {
        if (input.device_type == DeviceType.META)
        {
            throw new ArgumentException(
                $"{what} is on the meta device ({input.device}), which holds shapes but no values; move it to the CPU or a CUDA device with .to(...).",
                parameterName);
        }
    }

    /// <summary>
    /// The minimum and maximum of a non-empty floating-point tensor, computed on its device in one pass and copied to
    /// the host in one transfer (one host sync). NaN anywhere makes both NaN; ±∞ shows as a minimum of −∞ or a maximum
    /// of +∞.
    /// </summary>
    public static (double Min, double Max) MinMaxOnHost(Tensor input)
    {
        CheckCounters.ValueRead();
        using var scope = NewDisposeScope();
        var (min, max) = input.aminmax();
        var both = stack([min, max]).to(ScalarType.Float64).cpu();
        var values = both.data<double>();
        return (values[0], values[1]);
    }
}

/// <summary>A batch's minimum and maximum, read once by the layer that checked it finite (both finite).</summary>
internal readonly record struct InputValues(double Min, double Max);
