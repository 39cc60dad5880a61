using System;
using Microsoft.ML.OnnxRuntime;

namespace FlowOod.OnnxRuntime.Internal;

// Opens ONNX Runtime sessions the way every serving type does: sequential execution, the given intra-op threads, one
// inter-op thread; a file ONNX Runtime cannot load becomes an ArgumentException naming the parameter.
internal static class Sessions
{
    public static InferenceSession Open(Func<SessionOptions, InferenceSession> open, int intraOpThreads, string parameterName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(intraOpThreads);
        using var options = new SessionOptions { IntraOpNumThreads = intraOpThreads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        try
        {
            return open(options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ArgumentException($"ONNX Runtime cannot load the model: {e.Message}", parameterName, e);
        }
    }

    // Runs the exported graph on [count, eventShape...] float32 values: log p(x) in nats per row.
    public static double[] LogLikelihood(InferenceSession session, float[] values, long[] shape)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [ExportMetadata.InputName], [input], [ExportMetadata.LogLikelihoodOutput]);
        var output = results[0].GetTensorDataAsSpan<float>();
        var logLikelihood = new double[shape[0]];
        for (int i = 0; i < logLikelihood.Length; i++)
        {
            logLikelihood[i] = output[i];
        }

        return logLikelihood;
    }

    // Runs the exported graph and returns its float64 output `name` [count] (a scorer's "score").
    public static double[] DoubleOutput(InferenceSession session, float[] values, long[] shape, string name)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [ExportMetadata.InputName], [input], [name]);
        return results[0].GetTensorDataAsSpan<double>().ToArray();
    }
}
