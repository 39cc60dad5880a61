using System;
using System.Buffers;
using System.IO;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Data;
using Microsoft.Net.Http.Headers;

namespace FlowOod.AspNetCore;

/// <summary>
/// Turns a request body into the gate's input: the content type picks the format, the body is read up to a hard limit,
/// and every value v in 0..255 becomes v / 255 (float32), as <c>ImageDataset.ToTensor</c> does.
/// </summary>
internal static class RequestParser
{
    private const string Formats = "image/png, application/octet-stream or application/json";

    /// <summary>Maps a Content-Type header to a format, or throws 415.</summary>
    public static RequestFormat ParseContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            throw BadInputException.Unsupported($"The request has no Content-Type; send {Formats}.");
        }

        if (!MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            throw BadInputException.Unsupported($"The Content-Type '{Truncate(contentType)}' cannot be parsed; send {Formats}.");
        }

        var type = media.MediaType;
        if (type.Equals("image/png", StringComparison.OrdinalIgnoreCase))
        {
            return RequestFormat.Png;
        }

        if (type.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
        {
            return RequestFormat.Raw;
        }

        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return RequestFormat.Json;
        }

        throw BadInputException.Unsupported($"Content-Type '{Truncate(type.ToString())}' is not supported; send {Formats}.");
    }

    /// <summary>
    /// Reads the whole body into a pooled buffer, never holding more than <paramref name="maxBytes"/> + 1 bytes: a
    /// declared Content-Length over the limit is refused before reading, and a body that grows past it while being read
    /// is refused as soon as the first byte over the limit arrives (413). The caller returns the buffer to the pool.
    /// </summary>
    public static async ValueTask<(byte[] Buffer, int Length)> ReadBodyAsync(Stream body, long? contentLength, int maxBytes, CancellationToken cancellationToken)
    {
        if (contentLength > maxBytes)
        {
            throw BadInputException.TooLarge($"The body declares {contentLength} bytes; this endpoint accepts at most {maxBytes}.");
        }

        int initial = (int)Math.Min(contentLength is > 0 ? contentLength.Value + 1 : 4096, (long)maxBytes + 1);
        var buffer = ArrayPool<byte>.Shared.Rent(initial);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    int grown = (int)Math.Min((long)buffer.Length * 2, (long)maxBytes + 1);
                    var larger = ArrayPool<byte>.Shared.Rent(grown);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                int room = (int)Math.Min(buffer.Length - length, (long)maxBytes + 1 - length);
                int n = await body.ReadAsync(buffer.AsMemory(length, room), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return (buffer, length);
                }

                length += n;
                if (length > maxBytes)
                {
                    throw BadInputException.TooLarge($"The body is larger than the {maxBytes} bytes this endpoint accepts.");
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>Parses a whole body into prod(InputShape) float32 values v / 255, or throws 400/415.</summary>
    public static float[] Parse(RequestFormat format, ReadOnlyMemory<byte> body, InputLayout layout)
    {
        if (body.IsEmpty)
        {
            throw BadInputException.Malformed("The request body is empty.");
        }

        switch (format)
        {
            case RequestFormat.Png:
                if (!layout.IsImage)
                {
                    throw BadInputException.Unsupported($"This gate's input {layout.Describe()} is not an image; send application/octet-stream or application/json.");
                }

                return PixelScale.ToUnit(PngDecoder.Decode(body, layout.Channels, layout.Height, layout.Width));
            case RequestFormat.Raw:
                if (body.Length != layout.Length)
                {
                    throw BadInputException.Malformed(
                        $"The body holds {body.Length} bytes; this gate takes exactly {layout.Length} (one byte per value of {layout.Describe()}, row-major).");
                }

                return PixelScale.ToUnit(body.Span);
            default:
                return JsonInput.Parse(body.Span, layout);
        }
    }


    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "...";
}
