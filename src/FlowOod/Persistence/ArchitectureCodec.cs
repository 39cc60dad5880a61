using System;
using System.Text.Json.Nodes;
using FlowOod.Bijectors;
using FlowOod.Bottlenecks;
using FlowOod.Conditioners;
using FlowOod.Masks;
using FlowOod.Models;

namespace FlowOod.Persistence;

/// <summary>
/// Options of FlowOod's builders ↔ JSON. Encoding returns null when an option holds a user-defined component (a custom
/// mask, st-network or scale activation), which a file cannot describe. Decoding is strict and bounds every size, so a
/// header cannot ask for an absurd architecture; the loader additionally builds it on the meta device and compares its
/// parameter shapes with the file before allocating anything real.
/// </summary>
internal static class ArchitectureCodec
{
    public const string RealNvpName = "RealNvp";
    public const string GlowName = "Glow";
    public const string SingleScaleRealNvpName = "SingleScaleRealNvp";
    public const string TabularRealNvpName = "TabularRealNvp";

    private const int MaxWidth = 1 << 16;
    private const int MaxDepth = 4096;

    public static bool IsBuiltIn(string name) => name is RealNvpName or GlowName or SingleScaleRealNvpName or TabularRealNvpName;

    public static FlowArchitecture? Describe(RealNvpOptions o) =>
        Describe(RealNvpName, Mask(o.SpatialMask) is { } mask && Bottleneck(o.Bottleneck) is { } bottleneck
            ? new JsonObject
            {
                ["scales"] = o.Scales,
                ["width"] = o.Width,
                ["blocks"] = o.Blocks,
                ["logitAlpha"] = o.LogitAlpha,
                ["dequantizationNoise"] = o.DequantizationNoise,
                ["spatialMask"] = mask,
                ["bottleneck"] = bottleneck,
                ["weightNorm"] = o.WeightNorm,
            }
            : null);

    public static FlowArchitecture? Describe(GlowOptions o)
    {
        JsonNode? conditioner = null;
        if (o.Conditioner is not null && (conditioner = Conditioner(o.Conditioner)) is null)
        {
            return null;
        }

        return Describe(GlowName, Activation(o.ScaleActivation) is { } activation
            ? new JsonObject
            {
                ["scales"] = o.Scales,
                ["stepsPerScale"] = o.StepsPerScale,
                ["width"] = o.Width,
                ["conditioner"] = conditioner,
                ["luDecomposedConvolution"] = o.LuDecomposedConvolution,
                ["scaleActivation"] = activation,
                ["logitAlpha"] = o.LogitAlpha,
                ["dequantizationNoise"] = o.DequantizationNoise,
            }
            : null);
    }

    public static FlowArchitecture? Describe(SingleScaleRealNvpOptions o) =>
        Describe(SingleScaleRealNvpName, Mask(o.Mask) is { } mask && Conditioner(o.Conditioner) is { } conditioner
            ? new JsonObject
            {
                ["mask"] = mask,
                ["couplings"] = o.Couplings,
                ["conditioner"] = conditioner,
                ["logitAlpha"] = o.LogitAlpha,
                ["dequantizationNoise"] = o.DequantizationNoise,
            }
            : null);

    public static FlowArchitecture Describe(TabularRealNvpOptions o) =>
        FlowArchitecture.Create(TabularRealNvpName, new JsonObject
        {
            ["couplings"] = o.Couplings,
            ["hiddenWidth"] = o.HiddenWidth,
            ["hiddenLayers"] = o.HiddenLayers,
            ["dropout"] = o.Dropout,
        });

    /// <summary>Rebuilds a flow of a built-in builder; throws <see cref="HeaderException"/> for bad options.</summary>
    public static NormalizingFlow Build(FlowArchitecture architecture, long[] eventShape, string path)
    {
        var o = architecture.OptionsNode;
        try
        {
            return architecture.Builder switch
            {
                RealNvpName => RealNvp.Create(eventShape, new RealNvpOptions
                {
                    Scales = Json.Int(o, "scales", path, 1, 16),
                    Width = Json.Int(o, "width", path, 1, MaxWidth),
                    Blocks = Json.Int(o, "blocks", path, 0, MaxDepth),
                    LogitAlpha = Json.Double(o, "logitAlpha", path, 1e-9, 0.5 - 1e-9),
                    DequantizationNoise = Json.Bool(o, "dequantizationNoise", path),
                    SpatialMask = Mask(Json.Object(o, "spatialMask", path), path + ".spatialMask"),
                    Bottleneck = Bottleneck(Json.Object(o, "bottleneck", path), path + ".bottleneck"),
                    WeightNorm = Json.Bool(o, "weightNorm", path),
                }),
                GlowName => Glow.Create(eventShape, new GlowOptions
                {
                    Scales = Json.Int(o, "scales", path, 1, 16),
                    StepsPerScale = Json.Int(o, "stepsPerScale", path, 1, MaxDepth),
                    Width = Json.Int(o, "width", path, 1, MaxWidth),
                    Conditioner = o["conditioner"] is null ? null : Conditioner(Json.Object(o, "conditioner", path), path + ".conditioner"),
                    LuDecomposedConvolution = Json.Bool(o, "luDecomposedConvolution", path),
                    ScaleActivation = Activation(Json.Object(o, "scaleActivation", path), path + ".scaleActivation"),
                    LogitAlpha = Json.Double(o, "logitAlpha", path, 1e-9, 0.5 - 1e-9),
                    DequantizationNoise = Json.Bool(o, "dequantizationNoise", path),
                }),
                SingleScaleRealNvpName => SingleScaleRealNvp.Create(eventShape, new SingleScaleRealNvpOptions
                {
                    Mask = Mask(Json.Object(o, "mask", path), path + ".mask"),
                    Couplings = Json.Int(o, "couplings", path, 1, MaxDepth),
                    Conditioner = Conditioner(Json.Object(o, "conditioner", path), path + ".conditioner"),
                    LogitAlpha = Json.Double(o, "logitAlpha", path, 1e-9, 0.5 - 1e-9),
                    DequantizationNoise = Json.Bool(o, "dequantizationNoise", path),
                }),
                TabularRealNvpName => TabularRealNvp.Create(
                    eventShape.Length == 1 ? eventShape[0] : throw new HeaderException($"{path}: a TabularRealNvp has a 1-D event shape, the file declares {Shapes.Format(eventShape)}."),
                    new TabularRealNvpOptions
                    {
                        Couplings = Json.Int(o, "couplings", path, 1, MaxDepth),
                        HiddenWidth = Json.Int(o, "hiddenWidth", path, 1, MaxWidth),
                        HiddenLayers = Json.Int(o, "hiddenLayers", path, 0, MaxDepth),
                        Dropout = Json.Double(o, "dropout", path, 0, 1),
                    }),
                _ => throw new HeaderException($"{path}: unknown builder \"{architecture.Builder}\"."),
            };
        }
        catch (ArgumentException e)
        {
            throw new HeaderException($"{path}: the stored {architecture.Builder} options do not build a flow for shape {Shapes.Format(eventShape)}: {e.Message}", e);
        }
    }

    private static FlowArchitecture? Describe(string builder, JsonObject? options) =>
        options is null ? null : FlowArchitecture.Create(builder, options);

    private static JsonObject? Mask(IMaskStrategy mask) => mask switch
    {
        CheckerboardMask => new JsonObject { ["type"] = "checkerboard" },
        ChannelMask => new JsonObject { ["type"] = "channel" },
        CycleMask => new JsonObject { ["type"] = "cycle" },
        HalfMask half => new JsonObject { ["type"] = "half", ["axis"] = half.Axis.ToString() },
        QuadrantMask quadrant => new JsonObject
        {
            ["type"] = "quadrant",
            ["condition"] = quadrant.ConditionQuadrant.ToString(),
            ["transform"] = quadrant.TransformQuadrant.ToString(),
        },
        _ => null,
    };

    private static IMaskStrategy Mask(JsonObject o, string path) => Json.String(o, "type", path, 32) switch
    {
        "checkerboard" => CheckerboardMask.Instance,
        "channel" => ChannelMask.Instance,
        "cycle" => CycleMask.Instance,
        "half" => new HalfMask(Json.Enum<HalfMaskAxis>(o, "axis", path)),
        "quadrant" => new QuadrantMask(Json.Enum<Quadrant>(o, "condition", path), Json.Enum<Quadrant>(o, "transform", path)),
        var other => throw new HeaderException($"Header value {path}.type: unknown mask \"{other}\"."),
    };

    private static JsonObject? Bottleneck(IBottleneck bottleneck) => bottleneck switch
    {
        NoBottleneck => new JsonObject { ["type"] = "none" },
        LinearBottleneck linear => new JsonObject { ["type"] = "linear", ["latentSize"] = linear.LatentSize },
        _ => null,
    };

    private static IBottleneck Bottleneck(JsonObject o, string path) => Json.String(o, "type", path, 32) switch
    {
        "none" => NoBottleneck.Instance,
        "linear" => new LinearBottleneck(Json.Int(o, "latentSize", path, 1, MaxWidth)),
        var other => throw new HeaderException($"Header value {path}.type: unknown bottleneck \"{other}\"."),
    };

    private static JsonObject? Conditioner(IConditionerFactory factory) => factory switch
    {
        ResNetConditionerFactory r when Bottleneck(r.Bottleneck) is { } b => new JsonObject
        {
            ["type"] = "resnet", ["width"] = r.Width, ["blocks"] = r.Blocks, ["bottleneck"] = b, ["weightNorm"] = r.WeightNorm,
        },
        HighwayConditionerFactory h => new JsonObject { ["type"] = "highway", ["width"] = h.Width, ["layers"] = h.Layers },
        GlowConvConditionerFactory g => new JsonObject { ["type"] = "glowConv", ["width"] = g.Width },
        MlpConditionerFactory m => new JsonObject
        {
            ["type"] = "mlp", ["hiddenWidth"] = m.HiddenWidth, ["hiddenLayers"] = m.HiddenLayers, ["dropout"] = m.Dropout,
        },
        AutoencoderConditionerFactory a when Bottleneck(a.Bottleneck) is { } b => new JsonObject { ["type"] = "autoencoder", ["bottleneck"] = b },
        _ => null,
    };

    private static IConditionerFactory Conditioner(JsonObject o, string path) => Json.String(o, "type", path, 32) switch
    {
        "resnet" => new ResNetConditionerFactory(
            Json.Int(o, "width", path, 1, MaxWidth),
            Json.Int(o, "blocks", path, 0, MaxDepth),
            Bottleneck(Json.Object(o, "bottleneck", path), path + ".bottleneck"),
            Json.Bool(o, "weightNorm", path)),
        "highway" => new HighwayConditionerFactory(Json.Int(o, "width", path, 1, MaxWidth), Json.Int(o, "layers", path, 1, MaxDepth)),
        "glowConv" => new GlowConvConditionerFactory(Json.Int(o, "width", path, 1, MaxWidth)),
        "mlp" => new MlpConditionerFactory(
            Json.Int(o, "hiddenWidth", path, 1, MaxWidth), Json.Int(o, "hiddenLayers", path, 0, MaxDepth), Json.Double(o, "dropout", path, 0, 1)),
        "autoencoder" => new AutoencoderConditionerFactory(Bottleneck(Json.Object(o, "bottleneck", path), path + ".bottleneck")),
        var other => throw new HeaderException($"Header value {path}.type: unknown st-network \"{other}\"."),
    };

    private static JsonObject? Activation(ScaleActivation activation)
    {
        if (ReferenceEquals(activation, ScaleActivation.RealNvpTanh))
        {
            return new JsonObject { ["type"] = "realNvpTanh" };
        }

        if (ReferenceEquals(activation, ScaleActivation.GlowSigmoid))
        {
            return new JsonObject { ["type"] = "glowSigmoid" };
        }

        return activation.SoftClampBound is { } bound ? new JsonObject { ["type"] = "softClamp", ["bound"] = bound } : null;
    }

    private static ScaleActivation Activation(JsonObject o, string path) => Json.String(o, "type", path, 32) switch
    {
        "realNvpTanh" => ScaleActivation.RealNvpTanh,
        "glowSigmoid" => ScaleActivation.GlowSigmoid,
        "softClamp" => ScaleActivation.SoftClamp(Json.Double(o, "bound", path, double.Epsilon, 1e6)),
        var other => throw new HeaderException($"Header value {path}.type: unknown scale activation \"{other}\"."),
    };
}
