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
                Layer(layers[l], narrow, a, b, rows, width, outWidth, hidden: l < layers.Length - 1);

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

        // One linear layer, out = W·h + b (ReLU when hidden), its weights float32 or (narrow) bf16 bits widened exactly;
        // the sums in float32.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Layer(LinearLayer layer, bool narrow, float[] input, float[] output, int rows, int width, int outWidth, bool hidden)
        {
            var weights = narrow ? default : Floats(layer.Weight);
            var weightBits = narrow ? Halves(layer.Weight) : default;
            var biases = narrow || layer.Bias is not { } bias ? default : Floats(bias);
            var biasBits = narrow && layer.Bias is { } narrowBias ? Halves(narrowBias) : default;
            for (int r = 0; r < rows; r++)
            {
                var h = input.AsSpan(r * width, width);
                for (int o = 0; o < outWidth; o++)
                {
                    var value = narrow
                        ? BFloat16Bits.Dot(h, weightBits.Slice(o * width, width)) + (biasBits.IsEmpty ? 0f : BFloat16Bits.Widen(biasBits[o]))
                        : Dot(h, weights.Slice(o * width, width)) + (biases.IsEmpty ? 0f : biases[o]);
                    output[r * outWidth + o] = hidden && value < 0f ? 0f : value;
                }
            }
        }
    }
}
