using System;
using System.Collections.Generic;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// The small CNN of <see cref="RotationPredictionScorer"/>: images <c>[N, C, S, S]</c> → logits <c>[N, 4]</c> over the
/// rotations by 0°, 90°, 180° and 270°.
/// </summary>
/// <remarks>
/// conv 3×3 stride 2 (C → w) · ReLU · conv 3×3 stride 2 (w → 2w) · ReLU · conv 3×3 (2w → 2w) · ReLU · flatten
/// (2w·(S/4)²) · linear → h · ReLU · linear → 4 (all convolutions zero-padded by 1). No global pooling: orientation is
/// where the features are, so the head sees their positions. Strided convolutions rather than max-pooling after
/// full-resolution ones: the first layer's activations are 4× smaller, which on a 2-core CPU made scoring about 7× faster
/// (the full-resolution activations of a chunk no longer fit in cache). S must be a multiple of 4.
/// </remarks>
internal sealed partial class RotationNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Conv2dLayer conv1;
    private readonly Conv2dLayer conv2;
    private readonly Conv2dLayer conv3;
    private readonly LinearLayer hidden;
    private readonly LinearLayer logits;

    public RotationNetwork(int channels, int size, int width, int hiddenUnits, Device? device)
        : base(nameof(RotationNetwork))
    {
        conv1 = new Conv2dLayer(channels, width, (3, 3), (2, 2), padding: 1, device: device);
        conv2 = new Conv2dLayer(width, 2 * width, (3, 3), (2, 2), padding: 1, device: device);
        conv3 = new Conv2dLayer(2 * width, 2 * width, 3, padding: 1, device: device);
        long flat = 2L * width * (size / 4) * (size / 4);
        hidden = new LinearLayer(flat, hiddenUnits, device: device);
        logits = new LinearLayer(hiddenUnits, RotationPredictionScorer.Rotations, device: device);
        RegisterComponents();
    }

    /// <summary>The parameters by name, in a fixed order (what a model file stores).</summary>
    public IReadOnlyList<(string Name, Tensor Value)> NamedParameters()
    {
        var list = new List<(string, Tensor)>();
        foreach (var (name, parameter) in named_parameters())
        {
            list.Add((name, parameter));
        }

        return list;
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(conv1.call(input));
        x = nn.functional.relu(conv2.call(x));
        x = nn.functional.relu(conv3.call(x)).flatten(1);
        return scope.MoveToOuter(logits.call(nn.functional.relu(hidden.call(x))));
    }
}
