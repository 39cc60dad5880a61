using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Gating;
using static TorchSharp.torch;

namespace FlowOod.AspNetCore;

/// <summary>The shipped <see cref="IGateModel"/>: one <see cref="OodGate"/>; builds the batch tensor inside a dispose scope.</summary>
internal sealed class OodGateModel : IGateModel
{
    private readonly OodGate gate;
    private readonly long[] shape;

    public OodGateModel(OodGate gate)
    {
        this.gate = gate;
        shape = gate.InputShape.ToArray();
        InputShape = shape;
        ClassNames = gate.ClassNames.ToArray();
        TargetFalsePositiveRate = gate.TargetFalsePositiveRate;
        Threshold = gate.Threshold;
    }

    public IReadOnlyList<long> InputShape { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public double TargetFalsePositiveRate { get; }

    public double Threshold { get; }

    public GateDecision[] Classify(float[] inputs, int count)
    {
        long[] dims = [count, .. shape];
        using var scope = NewDisposeScope();
        using var batch = tensor(inputs, dims);
        return gate.Classify(batch);
    }

    public void Dispose() => gate.Dispose();
}

/// <summary>Loads gate files with <see cref="OodGate.Load"/> for one classifier, with the configured α override.</summary>
internal sealed class OodGateModelLoader(nn.Module<Tensor, Tensor> classifier, GateLoadOptions loadOptions) : IGateModelLoader
{
    public IGateModel Load(string path)
    {
        var gate = OodGate.Load(path, classifier, loadOptions);
        try
        {
            return new OodGateModel(gate);
        }
        catch
        {
            gate.Dispose();
            throw;
        }
    }
}
