using System;

namespace FlowOod.Conditioners;

/// <summary>Argument checks shared by the conditioner factories, with messages that say which factory fits instead.</summary>
internal static class ConditionerShapes
{
    /// <summary>Copies <paramref name="inputShape"/>, requiring an image shape <c>[C, H, W]</c>.</summary>
    public static long[] RequireImage(long[] inputShape, long outputChannels, string network)
    {
        var shape = Shapes.CheckEventShape(inputShape, nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        if (shape.Length != 3)
        {
            var hint = shape.Length == 1 ? "; for vector events [D] use MlpConditionerFactory" : string.Empty;
            throw new ArgumentException(
                $"The {network} st-network is convolutional and needs an image input [C, H, W], got {Shapes.Format(shape)}{hint}.",
                nameof(inputShape));
        }

        return shape;
    }

    /// <summary>Copies <paramref name="inputShape"/>, requiring a vector shape <c>[D]</c>.</summary>
    public static long[] RequireVector(long[] inputShape, long outputChannels, string network)
    {
        var shape = Shapes.CheckEventShape(inputShape, nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputChannels);
        if (shape.Length != 1)
        {
            throw new ArgumentException(
                $"The {network} st-network needs a vector input [D], got {Shapes.Format(shape)}; for images [C, H, W] use a "
                + "convolutional conditioner (ResNet, Highway, GlowConv or Autoencoder).",
                nameof(inputShape));
        }

        return shape;
    }
}
