using System;
using System.IO;

namespace FlowOod.Data;

/// <summary>
/// A read-only, forward-only stream that yields <c>prefix</c> and then the rest of <c>inner</c>: it puts back bytes
/// already read for sniffing, so non-seekable streams work too. Disposing it leaves <c>inner</c> open.
/// </summary>
internal sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
{
    private int _prefixRead;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_prefixRead == prefix.Length)
        {
            return inner.Read(buffer);
        }

        var n = Math.Min(buffer.Length, prefix.Length - _prefixRead);
        prefix.AsSpan(_prefixRead, n).CopyTo(buffer);
        _prefixRead += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
