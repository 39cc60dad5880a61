using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using static TorchSharp.torch;

namespace FlowOod.Tests;

// Helpers of the tests that share one object between threads and count live tensors.
internal static class Concurrency
{
    // Runs call(i) for i in [0, count) on `threads` threads (thread t takes i = t, t + threads, ...) and returns the
    // results by index; every exception a thread saw is rethrown together once all threads have finished.
    public static T[] OnThreads<T>(int threads, int count, Func<int, T> call)
    {
        var results = new T[count];
        var failures = new List<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                for (int i = t; i < count; i += threads)
                {
                    results[i] = call(i);
                }
            }
            catch (Exception e)
            {
                lock (failures)
                {
                    failures.Add(e);
                }
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        return failures.Count == 0 ? results : throw new AggregateException(failures);
    }

    // Tensor.TotalCount after finalising what other tests dropped without disposing: a collection during a measured
    // window would otherwise lower the count at random, so take baselines through this.
    public static long SettledTensorCount()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return Tensor.TotalCount;
    }
}
