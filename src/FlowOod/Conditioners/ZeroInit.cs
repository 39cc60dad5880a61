using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>Zero-initialises an st-network's last layer, so a fresh coupling layer is the identity (s = t = 0).</summary>
internal static class ZeroInit
{
    /// <summary>
    /// Makes <paramref name="module"/> output zeros and returns it: every parameter set to zero, except for a
    /// <see cref="WeightNormConv2d"/>, whose gain and bias are zeroed (zeroing its direction V would divide 0 by 0).
    /// </summary>
    public static T Zeroed<T>(T module)
        where T : nn.Module
    {
        if (module is WeightNormConv2d weightNormed)
        {
            weightNormed.ZeroOutput();
            return module;
        }

        foreach (var parameter in module.parameters())
        {
            ParameterInitialization.Zero(parameter);
        }

        return module;
    }
}
