using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Bijectors;
using TorchSharp;

namespace FlowOod.Models;

/// <summary>What every image-flow builder shares: the shape checks and the 8-bit preprocessing around the body.</summary>
internal static class ImageFlow
{
    /// <summary>
    /// Validates <paramref name="imageShape"/> as <c>[C, H, W]</c> with H and W divisible by <paramref name="divisor"/>.
    /// </summary>
    public static long[] CheckShape(long[] imageShape, string model, long divisor = 1, string? why = null)
    {
        var shape = Shapes.CheckEventShape(imageShape, nameof(imageShape));
        if (shape.Length != 3)
        {
            throw new ArgumentException($"{model} needs an image shape [C, H, W], got {Shapes.Format(shape)}.", nameof(imageShape));
        }

        if (shape[1] % divisor != 0 || shape[2] % divisor != 0)
        {
            throw new ArgumentException(
                $"{why}, height and width must be divisible by {divisor}; got {Shapes.Format(shape)}.", nameof(imageShape));
        }

        return shape;
    }

    /// <summary>
    /// dequantization → logit(α) → <paramref name="body"/>, as a flow over [0, 1] inputs with 256 levels (the body's
    /// components are created on the builder's device; the preprocessing steps hold no tensors).
    /// </summary>
    public static NormalizingFlow Create(long[] shape, IEnumerable<Bijector> body, double logitAlpha, bool dequantizationNoise)
    {
        var steps = new List<Bijector> { new UniformDequantization(dequantizationNoise), new Logit(logitAlpha) };
        steps.AddRange(body);
        return new NormalizingFlow(new Chain(steps), shape, inputRange: (0.0, 1.0), discretizationLevels: 256);
    }
}
