using System;
using System.Threading;

namespace FlowOod.AspNetCore;

/// <summary>
/// A reference-counted holder of one disposable value (a loaded gate). The holder's own reference is the first; each
/// <see cref="TryAcquire"/> adds one and each lease's <see cref="Lease.Dispose"/> removes one; <see cref="Retire"/>
/// removes the holder's. The value is disposed exactly once, by whichever release brings the count to zero, so a gate
/// swapped out by a reload lives until the last batch using it has finished. Once the count is zero no new lease can be
/// taken (<see cref="TryAcquire"/> returns null), so a retired value is never resurrected.
/// </summary>
internal sealed class RefCounted<T>
    where T : class, IDisposable
{
    private int count = 1;
    private int retired;

    public RefCounted(T value) => Value = value;

    public T Value { get; }

    /// <summary>Live references, the holder's included (0 once disposed).</summary>
    public int Count => Volatile.Read(ref count);

    /// <summary>A lease on the value, or null when the value has already been disposed.</summary>
    public Lease? TryAcquire()
    {
        int seen = Volatile.Read(ref count);
        while (seen > 0)
        {
            int previous = Interlocked.CompareExchange(ref count, seen + 1, seen);
            if (previous == seen)
            {
                return new Lease(this);
            }

            seen = previous;
        }

        return null;
    }

    /// <summary>Drops the holder's reference (once; later calls do nothing): the value is disposed when no lease is left.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref retired, 1) == 0)
        {
            Release();
        }
    }

    private void Release()
    {
        int left = Interlocked.Decrement(ref count);
        if (left == 0)
        {
            Value.Dispose();
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("A gate lease was released more often than it was acquired.");
        }
    }

    /// <summary>One reference to the value; dispose it (once) when done.</summary>
    public sealed class Lease : IDisposable
    {
        private RefCounted<T>? owner;

        internal Lease(RefCounted<T> owner)
        {
            this.owner = owner;
            Value = owner.Value;
        }

        public T Value { get; }

        public void Dispose() => Interlocked.Exchange(ref owner, null)?.Release();
    }
}
