using System;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <content>The RealNVP preset.</content>
public abstract partial class ScaleActivation
{
    /// <summary>s = σ ⊙ tanh(ŝ); stored as <c>{"type": "realNvpTanh"}</c>.</summary>
    [ComponentName("realNvpTanh")]
    private sealed partial class TanhScale : ScaleActivation, IComponent<TanhScale>
    {
        public override bool UsesLearnableScale => true;

        public static TanhScale Read(ComponentReader reader) => (TanhScale)RealNvpTanh;

        public void Write(ComponentWriter writer)
        {
        }

        public override Tensor LogScale(Tensor raw, Tensor? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(raw);
            ArgumentNullException.ThrowIfNull(learnableScale);
            return raw.tanh().mul(learnableScale);
        }

        internal override bool HasHostForm => true;

        internal override float HostLogScale(float raw, float learnableScale) => MathF.Tanh(raw) * learnableScale;

        public override string ToString() => "RealNvpTanh";
    }
}
