using System;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace FlowOod.Benchmarks;

/// <summary>
/// ONNX Runtime as a peer in the bench: one <see cref="InferenceSession"/> on the CPU execution provider with every
/// graph optimisation (<see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/>: constant folding, BatchNorm folded into
/// convolutions, activations fused), <c>IntraOpNumThreads</c> = the bench's thread count, sequential execution, fp32.
/// Inputs are row-major float32 <c>[N, eventShape...]</c> handed to ONNX Runtime without a copy.
/// </summary>
/// <remarks>
/// ONNX Runtime's own defaults otherwise (its intra-op threads spin briefly while waiting, as a user would get them).
/// Not thread-safe to share between measuring threads: the bench measures one thing at a time.
/// </remarks>
internal sealed class OnnxRuntimePeer : IDisposable
{
    private readonly InferenceSession session;
    private readonly string[] inputNames;
    private readonly string[] outputNames;
    private readonly long[] eventShape;

    /// <summary>Opens <paramref name="model"/> (bytes) or a file (<paramref name="path"/>) for <paramref name="threads"/> intra-op threads.</summary>
    /// <param name="model">The ONNX model's bytes, or null to read <paramref name="path"/>.</param>
    /// <param name="path">The ONNX file when <paramref name="model"/> is null.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads.</param>
    /// <param name="output">The output to fetch per call (e.g. <c>bits_per_dim</c>).</param>
    /// <param name="eventShape">One input's shape (without N).</param>
    public OnnxRuntimePeer(byte[]? model, string? path, int threads, string output, long[] eventShape)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        session = model is not null ? new InferenceSession(model, options) : new InferenceSession(path!, options);
        inputNames = ["input"];
        outputNames = [output];
        this.eventShape = eventShape;
    }

    /// <summary>"ONNX Runtime 1.32.0": the native library's version.</summary>
    public static string Version => "ONNX Runtime " + OrtEnv.Instance().GetVersionString();

    /// <summary>D, values per input.</summary>
    public long Dimensions
    {
        get
        {
            long d = 1;
            foreach (var size in eventShape)
            {
                d *= size;
            }

            return d;
        }
    }

    /// <summary>The output for inputs <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 of <paramref name="data"/>.</summary>
    /// <param name="data">Row-major inputs, D values each.</param>
    /// <param name="start">The first input.</param>
    /// <param name="count">Inputs in this call.</param>
    /// <returns>One float per input.</returns>
    public float[] Run(float[] data, int start, int count)
    {
        var d = (int)Dimensions;
        long[] shape = [count, .. eventShape];
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(data, start * d, count * d), shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, inputNames, [input], outputNames);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>The output for all of <paramref name="data"/> in chunks of <paramref name="chunk"/>.</summary>
    /// <param name="data">Row-major inputs, D values each.</param>
    /// <param name="chunk">Inputs per call.</param>
    /// <returns>One float per input.</returns>
    public float[] RunAll(float[] data, int chunk)
    {
        var count = (int)(data.Length / Dimensions);
        var output = new float[count];
        for (int start = 0; start < count; start += chunk)
        {
            var n = Math.Min(chunk, count - start);
            Run(data, start, n).CopyTo(output, start);
        }

        return output;
    }

    /// <summary>Images/s scoring <paramref name="images"/> inputs of <paramref name="data"/> (cycled) in chunks of <paramref name="chunk"/>, after one warm-up chunk.</summary>
    /// <param name="data">Row-major inputs, D values each.</param>
    /// <param name="images">Inputs to score in the timed part.</param>
    /// <param name="chunk">Inputs per call.</param>
    /// <returns>Inputs per second.</returns>
    public double Rate(float[] data, int images, int chunk)
    {
        var count = (int)(data.Length / Dimensions);
        Run(data, 0, Math.Min(chunk, count));
        var clock = Stopwatch.StartNew();
        long scored = 0;
        while (scored < images)
        {
            var start = (int)(scored % count);
            var n = Math.Min(chunk, count - start);
            Run(data, start, n);
            scored += n;
        }

        return scored / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Frees the session.</summary>
    public void Dispose() => session.Dispose();
}
