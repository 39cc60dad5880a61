using System;
using System.Globalization;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Bijectors;

/// <content>The soft-clamp preset.</content>
public abstract partial class ScaleActivation
{
    /// <summary>s = c·(2/π)·atan(ŝ/c); stored as <c>{"type": "softClamp", "bound": c}</c>, c in (0, 10⁶].</summary>
    [ComponentName("softClamp")]
    private sealed partial class SoftClampScale : ScaleActivation, IComponent<SoftClampScale>
    {
        private readonly double bound;

        public SoftClampScale(double bound)
        {
            this.bound = bound;
        }

        public static SoftClampScale Read(ComponentReader reader) => new(reader.ReadDouble("bound", double.Epsilon, 1e6));

        public void Write(ComponentWriter writer) => writer.WriteDouble("bound", bound);

        public override Tensor LogScale(Tensor raw, Tensor? learnableScale)
        {
            ArgumentNullException.ThrowIfNull(raw);
            return raw.DividedBy(bound).atan_().TimesInPlace(bound * 2.0 / Math.PI);
        }

        internal override bool HasHostForm => true;

        internal override float HostLogScale(float raw, float learnableScale) => MathF.Atan(raw / (float)bound) * (float)(bound * 2.0 / Math.PI);

        public override string ToString() => "SoftClamp(" + bound.ToString("R", CultureInfo.InvariantCulture) + ")";
    }
}
