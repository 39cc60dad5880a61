using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Conditioners;

/// <summary>Zero-initialises an st-network's last layer, so a fresh coupling layer is the identity (s = t = 0).</summary>
internal static class ZeroInit
{
    /// <summary>Sets every parameter of <paramref name="module"/> (weight and bias) to zero and returns it.</summary>
    public static T Zeroed<T>(T module)
        where T : nn.Module
    {
        using var noGrad = no_grad();
        foreach (var parameter in module.parameters())
        {
            parameter.zero_();
        }

        return module;
    }
}
