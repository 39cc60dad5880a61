using System;
using System.Collections.Generic;
using FlowOod.Gating;

namespace FlowOod.AspNetCore;

/// <summary>
/// The seam between the serving machinery (batcher, reload, health) and libtorch: one loaded model that answers a
/// batch of flat float32 inputs. The shipped implementations are <see cref="OodGateModel"/> over <see cref="OodGate"/>
/// and <see cref="EmbeddingDetectorModel"/> over an embedding detector (inputs <c>[D]</c>, no classes: empty
/// <see cref="ClassNames"/>, decisions with label −1); tests substitute managed fakes so the batching, lease and reload
/// logic is tested without torch.
/// </summary>
internal interface IGateModel : IDisposable
{
    IReadOnlyList<long> InputShape { get; }

    IReadOnlyList<string> ClassNames { get; }

    double TargetFalsePositiveRate { get; }

    double Threshold { get; }

    /// <summary>Classifies <paramref name="count"/> inputs stored back to back in <paramref name="inputs"/>
    /// (count · prod(InputShape) values); called by one thread at a time.</summary>
    GateDecision[] Classify(float[] inputs, int count);
}

/// <summary>Loads a gate file into an <see cref="IGateModel"/> (throws when the file is bad or does not fit the classifier).</summary>
internal interface IGateModelLoader
{
    IGateModel Load(string path);
}
