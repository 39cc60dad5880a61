using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace FlowOod.GateService.Tests;

// Keep-alive HTTP/1.1 clients on raw sockets, so that every request's fate is known exactly: answered (a complete
// response was read), lost (written on an open connection that then closed without a complete response), or never
// sent (the connection was refused: the listener had closed). HttpClient hides the difference.
public sealed class RawHttpLoad
{
    private readonly ConcurrentDictionary<int, int> statuses = new();
    private int written;
    private int answered;
    private int lost;
    private int refused;

    public int Written => Volatile.Read(ref written);

    public int Answered => Volatile.Read(ref answered);

    public int Lost => Volatile.Read(ref lost);

    public int Refused => Volatile.Read(ref refused);

    public int Count(int status) => statuses.TryGetValue(status, out int n) ? n : 0;

    public override string ToString() => FormattableString.Invariant(
        $"written {Written}, answered {Answered}, lost {Lost}, connects refused {Refused}; statuses {string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"))}");

    public static byte[] Post(byte[] body, string contentType = "application/octet-stream") =>
        [.. Encoding.ASCII.GetBytes(FormattableString.Invariant(
            $"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\n\r\n")), .. body];

    // `clients` clients, each sending `request` again and again on one connection (a new one after Connection: close),
    // until a connect is refused, `stop` fires, `limit` has passed or `maxPerClient` requests were sent. A request in
    // flight when `stop` fires or `limit` passes is still read to its end (at most 30 s more), so it is never abandoned.
    public Task RunAsync(Uri server, byte[] request, int clients, int maxPerClient, TimeSpan limit, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(() => ClientAsync(server, request, maxPerClient, limit, stop))));

    private async Task ClientAsync(Uri server, byte[] request, int maxPerClient, TimeSpan limit, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(limit);
        using var hard = new CancellationTokenSource(limit + TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        int sent = 0;
        while (sent < maxPerClient && !timeout.IsCancellationRequested)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port), hard.Token);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                Interlocked.Increment(ref refused);
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            bool open = true;
            while (open && sent < maxPerClient && !timeout.IsCancellationRequested)
            {
                sent++;
                Interlocked.Increment(ref written);
                var answer = await ExchangeAsync(socket, request, buffer, hard.Token);
                if (answer is not { } a)
                {
                    if (!hard.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref lost);
                    }

                    return;
                }

                Interlocked.Increment(ref answered);
                statuses.AddOrUpdate(a.Status, 1, (_, n) => n + 1);
                open = !a.Close;
            }
        }
    }

    // Writes the request and reads one complete response; null when the connection ends (or fails) before it is complete.
    private static async Task<(int Status, bool Close)?> ExchangeAsync(Socket socket, byte[] request, byte[] buffer, CancellationToken cancel)
    {
        try
        {
            await socket.SendAsync(request, SocketFlags.None, cancel);
            int length = 0;
            int headerEnd;
            while ((headerEnd = IndexOf(buffer.AsSpan(0, length), "\r\n\r\n"u8)) < 0)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancel);
                if (n == 0)
                {
                    return null;
                }

                length += n;
            }

            var head = Encoding.ASCII.GetString(buffer, 0, headerEnd).Split("\r\n");
            int status = int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture);
            int contentLength = 0;
            bool close = false;
            bool chunked = false;
            foreach (var line in head.Skip(1))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    contentLength = int.Parse(value, CultureInfo.InvariantCulture);
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
                }
                else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                {
                    close = value.Contains("close", StringComparison.OrdinalIgnoreCase);
                }
            }

            // A chunked body (the endpoint streams its JSON) ends with the last chunk "0\r\n\r\n"; JSON holds no CR/LF.
            int total = headerEnd + 4 + contentLength;
            while (chunked ? !buffer.AsSpan(headerEnd + 4, length - headerEnd - 4).EndsWith("\r\n0\r\n\r\n"u8) : length < total)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancel);
                if (n == 0)
                {
                    return null;
                }

                length += n;
            }

            return (status, close);
        }
        catch (SocketException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static int IndexOf(ReadOnlySpan<byte> data, ReadOnlySpan<byte> value) => data.IndexOf(value);
}
