using System.Collections.Generic;
using System.Linq;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Conditioners;

// Tiny configurations of every conditioner factory, by name, for the theories of this folder.
internal static class ConditionerCases
{
    public static readonly IReadOnlyDictionary<string, IConditionerFactory> Image = new Dictionary<string, IConditionerFactory>
    {
        ["ResNet"] = new ResNetConditionerFactory(width: 4, blocks: 1),
        ["ResNet+LinearBottleneck"] = new ResNetConditionerFactory(width: 4, blocks: 2, new LinearBottleneck(3)),
        ["Highway"] = new HighwayConditionerFactory(width: 4, layers: 2),
        ["GlowConv"] = new GlowConvConditionerFactory(width: 4),
        ["Autoencoder"] = new AutoencoderConditionerFactory(latentSize: 3),
        ["Local"] = new LocalConditionerFactory(window: 3, width: 4, blocks: 1),
    };

    public static readonly IReadOnlyDictionary<string, IConditionerFactory> Vector = new Dictionary<string, IConditionerFactory>
    {
        ["Mlp"] = new MlpConditionerFactory(hiddenWidth: 8, hiddenLayers: 2),
        ["Mlp(no hidden layer)"] = new MlpConditionerFactory(hiddenWidth: 8, hiddenLayers: 0),
        ["Mlp(dropout 0.5)"] = new MlpConditionerFactory(hiddenWidth: 8, hiddenLayers: 1, dropout: 0.5),
    };

    public static IConditionerFactory Get(string name) => Image.TryGetValue(name, out var factory) ? factory : Vector[name];

    public static TheoryData<string> ImageNames() => new(Image.Keys);

    public static TheoryData<string> VectorNames() => new(Vector.Keys);

    public static TheoryData<string> AllNames() => new(Image.Keys.Concat(Vector.Keys));

    // An event shape the factory accepts: [2, 14, 14] for images (the autoencoder's minimum), [5] for vectors.
    public static long[] EventShapeFor(string name) => Image.ContainsKey(name) ? [2, 14, 14] : [5];

    // Every conditioner's last layer is its top-level out_conv (convolutional) or out_linear (MLP).
    public static bool IsLastLayer(string parameterName) =>
        parameterName.StartsWith("out_conv.", System.StringComparison.Ordinal)
        || parameterName.StartsWith("out_linear.", System.StringComparison.Ordinal);

    // Adds N(0, std²) noise to every parameter of the last layer.
    public static void PerturbLastLayer(nn.Module module, double std) => Perturb(module, IsLastLayer, std);

    // Adds N(0, std²) noise to every parameter.
    public static void PerturbAll(nn.Module module, double std) => Perturb(module, _ => true, std);

    private static void Perturb(nn.Module module, System.Func<string, bool> select, double std)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            if (select(name))
            {
                parameter.PlusInPlace(randn_like(parameter).TimesInPlace(std));
            }
        }
    }
}
