using System;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <content>The Glow preset.</content>
public abstract partial class ScaleActivation
{
    /// <summary>
    /// s = log sigmoid(ŝ + 2) = −softplus(−(ŝ + 2)), by libtorch's log-sigmoid (accurate for every ŝ); stored as
    /// <c>{"type": "glowSigmoid"}</c>.
    /// </summary>
    [ComponentName("glowSigmoid")]
    private sealed partial class SigmoidScale : ScaleActivation, IComponent<SigmoidScale>
    {
        public static SigmoidScale Read(ComponentReader reader) => (SigmoidScale)GlowSigmoid;

        public void Write(ComponentWriter writer)
        {
        }

        public override Tensor LogScale(Tensor raw, Tensor? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(raw);
            using var shifted = raw.Plus(2.0);
            return nn.functional.logsigmoid(shifted);
        }

        internal override bool HasHostForm => true;

        // log σ(x) = −log(1 + e^−x) for x ≥ 0, x − log(1 + e^x) below (no overflow either way), x = raw + 2, in float64.
        internal override float HostLogScale(float raw, float learnableScale)
        {
            double x = raw + 2f;
            return (float)(x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x)));
        }

        public override string ToString() => "GlowSigmoid";
    }
}
