using System;
using System.Linq;
using System.Runtime.CompilerServices;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

// The affine couplings of a HostCouplingFlow.
internal sealed partial class HostCouplingFlow
{
    /// <summary>One affine coupling: its channel lists, st-network layers and scale activation.</summary>
    private sealed class Step
    {
        private readonly AffineCoupling coupling;
        private readonly int[] condition;
        private readonly int[] transform;
        private readonly LinearLayer[] layers;
        private readonly int[] widths; // widths[0] = |condition|, widths[i + 1] = layer i's output

        private Step(AffineCoupling coupling, int[] condition, int[] transform, LinearLayer[] layers, int[] widths)
        {
            this.coupling = coupling;
            this.condition = condition;
            this.transform = transform;
            this.layers = layers;
            this.widths = widths;
        }

        public int Widest => widths.Max();

        public int ParameterCount => layers.Sum(l => l.Bias is null ? 1 : 2) + (coupling.LearnableScale is null ? 0 : 1);

        public static Step? TryCreate(AffineCoupling coupling, int features)
        {
            if (!coupling.IsChannelStructured || coupling.ConditionerDtype is not (null or ScalarType.BFloat16) || coupling.Conditioner is not MlpConditioner mlp
                || !coupling.ScaleActivation.HasHostForm)
            {
                return null;
            }

            var condition = coupling.Mask.ConditionChannels!.Select(c => (int)c).ToArray();
            var transform = coupling.Mask.TransformChannels!.Select(c => (int)c).ToArray();
            var layers = mlp.Layers.ToArray();
            var widths = new int[layers.Length + 1];
            widths[0] = condition.Length;
            for (int i = 0; i < layers.Length; i++)
            {
                var shape = layers[i].Weight.Sizes();
                if (shape.Length != 2 || shape[1] != widths[i] || shape[0] > int.MaxValue || layers[i].Bias?.numel() is { } n && n != shape[0])
                {
                    return null;
                }

                widths[i + 1] = (int)shape[0];
            }

            var scale = coupling.LearnableScale;
            var valid = widths[^1] == 2 * transform.Length && condition.Concat(transform).All(c => c >= 0 && c < features)
                && (scale is null || scale.numel() == transform.Length);
            return valid ? new Step(coupling, condition, transform, layers, widths) : null;
        }

        // The st-network's weights are bf16 exactly when the coupling computes it in bf16 (a trainer's mixed-precision
        // run keeps float32 weights and casts them per call: libtorch's path then).
        public bool Readable()
        {
            var dtype = coupling.ConditionerDtype ?? ScalarType.Float32;
            if (!IsReadable(coupling.LearnableScale))
            {
                return false;
            }

            foreach (var layer in layers)
            {
                if (!IsReadable(layer.Weight, dtype) || !IsReadable(layer.Bias, dtype))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>
        /// The coupling on <paramref name="x"/> (<c>[rows, features]</c>, changed in place), adding Σ s per row to
        /// <paramref name="logDet"/>; <paramref name="a"/> and <paramref name="b"/> are scratch of rows × the widest layer.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Apply(float[] x, int rows, int features, float[] a, float[] b, double[] logDet)
        {
            var narrow = coupling.ConditionerDtype == ScalarType.BFloat16;
            var width = condition.Length;
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < width; j++)
                {
                    var value = x[r * features + condition[j]];
                    a[r * width + j] = narrow ? BFloat16Bits.Round(value) : value;
                }
            }

            for (int l = 0; l < layers.Length; l++)
            {
                var outWidth = widths[l + 1];
                var hidden = l < layers.Length - 1;
                if (narrow)
                {
                    Layer(Halves(layers[l].Weight), layers[l].Bias is { } bias ? Halves(bias) : default, a, b, rows, width, outWidth, hidden);
                }
                else
                {
                    Layer(Floats(layers[l].Weight), layers[l].Bias is { } bias ? Floats(bias) : default, a, b, rows, width, outWidth, hidden);
                }

                (a, b) = (b, a);
                width = outWidth;
            }

            if (narrow)
            {
                // The st-network's output, bf16 in libtorch's path, cast back to float32 there.
                BFloat16Bits.RoundInPlace(a.AsSpan(0, rows * width));
            }

            var activation = coupling.ScaleActivation;
            var scale = coupling.LearnableScale is { } scaleTensor ? Floats(scaleTensor) : ReadOnlySpan<float>.Empty;
            var count = transform.Length;
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int j = 0; j < count; j++)
                {
                    var s = activation.HostLogScale(a[r * width + j], scale.IsEmpty ? 1f : scale[j]);
                    ref var changed = ref x[r * features + transform[j]];
                    changed = (changed + a[r * width + count + j]) * MathF.Exp(s);
                    sum += s;
                }

                logDet[r] += sum;
            }
        }

        // One linear layer, out = W·h + b (ReLU when hidden), float32 weights.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Layer(ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float[] input, float[] output, int rows, int width, int outWidth, bool hidden)
        {
            for (int r = 0; r < rows; r++)
            {
                var h = input.AsSpan(r * width, width);
                for (int o = 0; o < outWidth; o++)
                {
                    var value = Dot(h, weight.Slice(o * width, width)) + (bias.IsEmpty ? 0f : bias[o]);
                    output[r * outWidth + o] = hidden && value < 0f ? 0f : value;
                }
            }
        }

        // The same layer with bf16 weights (raw bits), widened exactly; the sums in float32.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Layer(ReadOnlySpan<ushort> weight, ReadOnlySpan<ushort> bias, float[] input, float[] output, int rows, int width, int outWidth, bool hidden)
        {
            for (int r = 0; r < rows; r++)
            {
                var h = input.AsSpan(r * width, width);
                for (int o = 0; o < outWidth; o++)
                {
                    var value = BFloat16Bits.Dot(h, weight.Slice(o * width, width)) + (bias.IsEmpty ? 0f : BFloat16Bits.Widen(bias[o]));
                    output[r * outWidth + o] = hidden && value < 0f ? 0f : value;
                }
            }
        }
    }
}
