using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.OnnxRuntime;

/// <summary>
/// The layer <see cref="OnnxClassifier.FeatureLayer"/>: returns its input. <see cref="OnnxClassifier"/> calls it with the
/// feature output on every forward (through <c>call</c>, so forward hooks such as the gate's see the features).
/// </summary>
internal sealed class FeaturePassThrough : nn.Module<Tensor, Tensor>
{
    public FeaturePassThrough()
        : base(nameof(FeaturePassThrough))
    {
    }

    public override Tensor forward(Tensor input) => input;
}
