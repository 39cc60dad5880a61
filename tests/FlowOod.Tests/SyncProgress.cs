using System;

namespace FlowOod.Tests;

// An IProgress<T> that reports on the calling thread (Progress<T> posts to the thread pool, too late for assertions).
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
