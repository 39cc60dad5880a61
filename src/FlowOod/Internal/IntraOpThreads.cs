using System;
using TorchSharp;

namespace FlowOod;

/// <summary>
/// Makes the calling thread use the process's intra-op thread count before it does any tensor work, so that a score
/// computed on a new thread has the same bits as one computed on an old thread.
/// </summary>
/// <remarks>
/// libtorch applies <c>at::set_num_threads</c> to another OS thread only lazily, at that thread's first parallel loop;
/// until then OpenMP gives the thread its default team size (the number of cores), and the thread's first convolutions and
/// reductions run with it. Measured on a 2-core AMD EPYC with the process set to 1 thread: a new thread reported 2 OpenMP
/// threads after a convolution, a product and a sum, and 1 only after a whole log-density. <c>at::get_num_threads</c>
/// performs the lazy initialisation, so <see cref="Adopt"/> calls it once per thread: it reads the process-wide setting and
/// applies it to this thread; it never changes the setting. A thread that adopted a count keeps it, so an application sets
/// the count once at start-up (docs/concepts.md, "Threads").
/// </remarks>
internal static class IntraOpThreads
{
    [ThreadStatic]
    private static bool adopted;

    /// <summary>Applies the process-wide intra-op thread count to the calling thread (once per thread; cheap after that).</summary>
    public static void Adopt()
    {
        if (adopted)
        {
            return;
        }

        FlowOodRuntime.EnsureAvailable();
        _ = torch.get_num_threads();
        adopted = true;
    }
}
