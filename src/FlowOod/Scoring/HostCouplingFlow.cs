using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FlowOod.Bijectors;
using FlowOod.Conditioners;
using FlowOod.Distributions;
using FlowOod.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// log p(x) of a few feature vectors through an affine-coupling flow, computed in managed code from the flow's own
/// weights: the gate's case, where libtorch's fixed cost per operation (about 2 µs through TorchSharp, some 20
/// operations per coupling layer) outweighs the arithmetic (a 4-coupling flow of width 64 on 32 features is about
/// 35 k multiply-adds per vector).
/// </summary>
/// <remarks>
/// <para>Covers a flow over <c>[D]</c> with the standard-normal base and no dequantization whose transform is a chain
/// (chains may nest) of <see cref="AffineCoupling"/> layers with channel-structured masks, a built-in scale activation
/// and MLP st-networks (<see cref="Models.TabularRealNvp"/>), float32 or bf16 (a bf16 inference copy's, or a flow loaded
/// in bf16), and whose every parameter belongs to those layers. For any other flow <see cref="TryCreate"/> returns null.</para>
/// <para>Per call, <see cref="TryCheckedLogProb"/> and <see cref="TryLogProb(Tensor)"/> take the batch only when it is a
/// contiguous float32 CPU tensor <c>[N, D]</c> with 1 ≤ N ≤ <see cref="MaxRows"/>, every module of the flow is in
/// evaluation mode and every weight is a contiguous CPU tensor of its st-network's dtype (float32, or bf16 where the
/// coupling computes its st-network in bf16; the learnable scale float32); otherwise they return null and the caller runs
/// libtorch. The weights are read where they are, on every call (no copy is kept, so the result is always that of the
/// flow's current weights). Forward hooks registered on the flow's modules do not run on this path.</para>
/// <para>Arithmetic: per coupling, h = ReLU(W·h + b) through the hidden layers and (s_raw, t) = W·h + b, in float32 as
/// libtorch computes it but with dot products summed in another order (SIMD lanes); s = activation(s_raw),
/// x_T ← (x_T + t)·exp(s); the log-determinant Σ s and log p(x) = −½‖z‖² − (D/2)·log 2π + log-det are summed in
/// float64. Scores agree with libtorch's to float32 rounding (the tests allow 1e-5 + 2·10⁻⁶·|score| bits/dim). A bf16
/// st-network is computed as <see cref="HostResNet"/> computes one: the conditioning entries rounded to bf16 (what
/// libtorch's path hands the network), the bf16 weights widened to float32 exactly, the hidden layers in float32 and the
/// output rounded to bf16 once (libtorch's path rounds every layer's output to bf16), so the scores are those of
/// libtorch's bf16 path up to bf16 rounding, and a little more precise. The
/// loops are compiled optimised from their first call (<see cref="MethodImplOptions.AggressiveOptimization"/>):
/// unoptimised tier-0 code ran a call in ~100 µs instead of ~20 for the first thousand-odd calls, a gate's first
/// requests.</para>
/// </remarks>
internal sealed partial class HostCouplingFlow
{
    /// <summary>The largest batch computed here (the gate's chunks; larger batches amortise libtorch's cost per operation).</summary>
    public const int MaxRows = 16;

    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    private readonly NormalizingFlow flow;
    private readonly Step[] steps;
    private readonly int features;
    private readonly int widest;

    private HostCouplingFlow(NormalizingFlow flow, Step[] steps, int features)
    {
        this.flow = flow;
        this.steps = steps;
        this.features = features;
        widest = steps.Max(s => s.Widest);
    }

    /// <summary>The host form of <paramref name="flow"/>, or null when the flow has a part it does not cover (see the remarks).</summary>
    public static HostCouplingFlow? TryCreate(NormalizingFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        if (flow.EventShape.Count != 1 || flow.Dequantization is not null || flow.BaseDistribution is not StandardNormal
            || flow.EventShape[0] > int.MaxValue)
        {
            return null;
        }

        var features = (int)flow.EventShape[0];
        var couplings = new List<AffineCoupling>();
        if (!Collect(flow.Transform, couplings) || couplings.Count == 0)
        {
            return null;
        }

        var steps = new Step[couplings.Count];
        for (int i = 0; i < steps.Length; i++)
        {
            if (Step.TryCreate(couplings[i], features) is not { } step)
            {
                return null;
            }

            steps[i] = step;
        }

        // Every parameter is one the steps read, so "every weight float32" is "the flow computes in float32".
        return flow.parameters().Count() == steps.Sum(s => s.ParameterCount) ? new HostCouplingFlow(flow, steps, features) : null;
    }

    /// <summary>
    /// log p(x) in nats per row of <paramref name="batch"/>, or null when this call is not one for the host (see the
    /// remarks): then nothing was checked and the caller runs libtorch. When it takes the batch it checks the values as
    /// the flow does: with <paramref name="values"/> (a batch its caller read already) only the flow's range, otherwise
    /// NaN/Inf and the range, each an <see cref="ArgumentException"/> naming <paramref name="parameterName"/>.
    /// </summary>
    public double[]? TryCheckedLogProb(Tensor batch, InputValues? values, string parameterName)
    {
        if (!Takes(batch, out var rows))
        {
            return null;
        }

        var input = MemoryMarshal.Cast<byte, float>(batch.bytes);
        var (min, max) = values is { } read ? (read.Min, read.Max) : MinMax(input, parameterName);
        flow.CheckInputRange(min, max, parameterName);
        CheckCounters.FlowEvaluated();
        var result = LogProb(input, rows);
        GC.KeepAlive(batch); // input is a view of its native memory: the tensor must not be finalized before here
        return result;
    }

    /// <summary>
    /// log p(x) in nats per row of <paramref name="batch"/>, a batch its caller has validated against the flow already
    /// (shape, finite values, range), or null when this call is not one for the host: then the caller runs libtorch.
    /// </summary>
    public double[]? TryLogProb(Tensor batch)
    {
        if (!Takes(batch, out var rows))
        {
            return null;
        }

        CheckCounters.FlowEvaluated();
        var result = LogProb(MemoryMarshal.Cast<byte, float>(batch.bytes), rows);
        GC.KeepAlive(batch); // as above
        return result;
    }

    /// <summary>
    /// log p(x) in nats per row of <paramref name="rows"/> (<c>[count, D]</c> row-major, validated by the caller), or
    /// null when the flow's state does not allow the host path or <paramref name="count"/> is outside 1..<see cref="MaxRows"/>.
    /// </summary>
    public double[]? TryLogProb(ReadOnlySpan<float> rows, int count)
    {
        if (count < 1 || count > MaxRows || rows.Length != count * features || !Readable())
        {
            return null;
        }

        CheckCounters.FlowEvaluated();
        return LogProb(rows, count);
    }

    // Whether this call is one for the host (see the remarks), with the batch's row count.
    private bool Takes(Tensor batch, out int rows)
    {
        rows = 0;
        if (batch.device_type != DeviceType.CPU || batch.dtype != ScalarType.Float32 || batch.dim() != 2)
        {
            return false;
        }

        var count = batch.size(0);
        if (count < 1 || count > MaxRows || batch.size(1) != features || !batch.is_contiguous() || !Readable())
        {
            return false;
        }

        rows = (int)count;
        return true;
    }

    private static bool Collect(Bijector bijector, List<AffineCoupling> into)
    {
        switch (bijector)
        {
            case AffineCoupling coupling:
                into.Add(coupling);
                return true;
            case Chain chain:
                return chain.Steps.All(step => Collect(step, into));
            default:
                return false;
        }
    }

    // The batch's (min, max); NaN or ±Inf throws as NormalizingFlow.ValidateInputValues does.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Min, double Max) MinMax(ReadOnlySpan<float> input, string parameterName)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var value in input)
        {
            if (!float.IsFinite(value))
            {
                throw new ArgumentException("The batch contains NaN or infinite values.", parameterName);
            }

            min = Math.Min(min, value);
            max = Math.Max(max, value);
        }

        return (min, max);
    }

    // Evaluation mode everywhere, and every weight a contiguous CPU tensor of its st-network's dtype (checked on every
    // call: a module's mode and its parameters' dtype and device can change between calls).
    private bool Readable()
    {
        if (!ModuleModes.AreEvaluating(flow))
        {
            return false;
        }

        foreach (var step in steps)
        {
            if (!step.Readable())
            {
                return false;
            }
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double[] LogProb(ReadOnlySpan<float> input, int rows)
    {
        var x = input.ToArray();
        var logDet = new double[rows];
        var a = new float[rows * widest];
        var b = new float[rows * widest];
        foreach (var step in steps)
        {
            step.Apply(x, rows, features, a, b, logDet);
        }

        var result = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double squares = 0;
            foreach (var z in x.AsSpan(r * features, features))
            {
                squares += (double)z * z;
            }

            result[r] = -0.5 * squares - features * HalfLogTwoPi + logDet[r];
        }

        return result;
    }

    private static bool IsReadable(Tensor? tensor, ScalarType dtype = ScalarType.Float32) =>
        tensor is null || (tensor.dtype == dtype && tensor.device_type == DeviceType.CPU && tensor.is_contiguous());

    private static ReadOnlySpan<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.bytes);

    private static ReadOnlySpan<ushort> Halves(Tensor tensor) => MemoryMarshal.Cast<byte, ushort>(tensor.bytes);

    /// <summary>Σ a_i·b_i in float32, SIMD-wide.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var lanes = Vector<float>.Zero;
        int i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            lanes += new Vector<float>(a[i..]) * new Vector<float>(b[i..]);
        }

        var sum = Vector.Sum(lanes);
        for (; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }
}
