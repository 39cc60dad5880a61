using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using FluentAssertions;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class RequestParserTests
{
    private static readonly InputLayout Mnist = new([1, 28, 28]);

    private static BadInputException Refused(Action act) => act.Should().Throw<BadInputException>().Which;

    private static float[] Json(string json, InputLayout? layout = null) =>
        RequestParser.Parse(RequestFormat.Json, Encoding.UTF8.GetBytes(json), layout ?? Mnist);

    [Theory]
    [InlineData("image/png", 0)]
    [InlineData("IMAGE/PNG", 0)]
    [InlineData("application/octet-stream", 1)]
    [InlineData("application/json; charset=utf-8", 2)]
    public void ParseContentType_KnownTypes_AreRecognised(string header, int format) =>
        RequestParser.ParseContentType(header).Should().Be((RequestFormat)format);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("text/plain")]
    [InlineData("image/jpeg")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData(";;;")]
    public void ParseContentType_OtherTypes_Are415(string? header) =>
        Refused(() => RequestParser.ParseContentType(header)).StatusCode.Should().Be(415);

    [Fact]
    public async Task ReadBody_DeclaredLengthOverTheLimit_Is413BeforeReading()
    {
        var act = async () => await RequestParser.ReadBodyAsync(new CountingStream(long.MaxValue), 1_000_000_000, 1000, CancellationToken.None);
        (await act.Should().ThrowAsync<BadInputException>()).Which.StatusCode.Should().Be(413);
    }

    [Fact]
    public async Task ReadBody_EndlessBodyWithoutLength_StopsOneByteOverTheLimit()
    {
        var endless = new CountingStream(long.MaxValue);
        var act = async () => await RequestParser.ReadBodyAsync(endless, null, 10_000, CancellationToken.None);
        (await act.Should().ThrowAsync<BadInputException>()).Which.StatusCode.Should().Be(413);
        endless.BytesRead.Should().Be(10_001);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(10_000)]
    public async Task ReadBody_UpToTheLimit_ReadsEverything(int length)
    {
        var (buffer, read) = await RequestParser.ReadBodyAsync(new CountingStream(length), null, 10_000, CancellationToken.None);
        read.Should().Be(length);
        buffer.Take(read).Count(b => b == 7).Should().Be(length);
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }

    [Fact]
    public void Parse_RawBytes_MapToValueOver255()
    {
        var bytes = Enumerable.Range(0, 784).Select(i => (byte)(i % 256)).ToArray();
        var values = RequestParser.Parse(RequestFormat.Raw, bytes, Mnist);
        values.Should().Equal(bytes.Select(b => b / 255f));
    }

    [Theory]
    [InlineData(783)]
    [InlineData(785)]
    [InlineData(1568)]
    public void Parse_RawBytesOfTheWrongCount_Is400(int count) =>
        Refused(() => RequestParser.Parse(RequestFormat.Raw, new byte[count], Mnist)).Message.Should().Contain("exactly 784");

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Parse_EmptyBody_Is400(int format) =>
        Refused(() => RequestParser.Parse((RequestFormat)format, ReadOnlyMemory<byte>.Empty, Mnist)).Message.Should().Contain("empty");

    [Fact]
    public void Parse_PngForANonImageGate_Is415() =>
        Refused(() => RequestParser.Parse(RequestFormat.Png, new byte[10], new InputLayout([784]))).StatusCode.Should().Be(415);

    [Fact]
    public void Parse_JsonForms_AgreeWithRawBytes()
    {
        var bytes = TestPng.Random(784, 4);
        var raw = RequestParser.Parse(RequestFormat.Raw, bytes, Mnist);
        Json($"{{\"pixels\":[{string.Join(',', bytes)}]}}").Should().Equal(raw);
        var rows = string.Join(',', Enumerable.Range(0, 28).Select(r => "[" + string.Join(',', bytes.Skip(r * 28).Take(28)) + "]"));
        Json($"{{\"image\":[{rows}]}}").Should().Equal(raw);
        Json($"{{\"image\":[[{rows}]]}}").Should().Equal(raw);
        Json($" {{ \"pixels\" : [ {string.Join(" , ", bytes.Select(b => b + ".0"))} ] }} ").Should().Equal(raw);
    }

    [Theory]
    [InlineData("{\"pixels\":[1,2,3]}", "3 values")]
    [InlineData("{\"pixels\":[NaN]}", "malformed")]
    [InlineData("{\"pixels\":[\"NaN\"]}", "string")]
    [InlineData("{\"pixels\":[Infinity]}", "malformed")]
    [InlineData("{\"pixels\":[1e999]}", "finite")]
    [InlineData("{\"pixels\":[-1]}", "outside 0..255")]
    [InlineData("{\"pixels\":[256]}", "outside 0..255")]
    [InlineData("{\"pixels\":[null]}", "null")]
    [InlineData("{\"pixels\":[[1]]}", "an array")]
    [InlineData("{\"pixels\":5}", "must be an array")]
    [InlineData("{\"pixel\":[]}", "unknown property")]
    [InlineData("{}", "neither")]
    [InlineData("[]", "not an object")]
    [InlineData("{\"pixels\":[1,2", "malformed")]
    [InlineData("{\"image\":[]}", "empty array")]
    [InlineData("{\"image\":[[1,2],[3]]}", "nesting level")]
    [InlineData("{\"image\":[[[[1]]]]}", "nested")]
    [InlineData("{\"image\":5}", "nested arrays")]
    [InlineData("not json", "malformed")]
    public void Parse_BadJson_Is400WithAMessage(string json, string message)
    {
        var e = Refused(() => Json(json));
        e.StatusCode.Should().Be(400);
        e.Message.Should().Contain(message);
    }

    [Fact]
    public void Parse_TooManyValues_IsRefusedAtTheFirstExtraValue()
    {
        var e = Refused(() => Json("{\"pixels\":[" + string.Join(',', Enumerable.Repeat("1", 5000)) + "]}"));
        e.Message.Should().Contain("more than the 784");
        Refused(() => Json("{\"image\":[" + string.Join(',', Enumerable.Repeat("[1]", 100)) + "]}")).StatusCode.Should().Be(400);
        Refused(() => Json("{\"pixels\":[],\"image\":[]}")).StatusCode.Should().Be(400);
        var small = new InputLayout([2]);
        Json("{\"pixels\":[0,255]}", small).Should().Equal(0f, 1f);
        Refused(() => Json("{\"pixels\":[0,255]} {}", small)).Message.Should().Contain("malformed");
        Refused(() => Json("{\"pixels\":[0,255],\"pixels\":[0,255]}", small)).Message.Should().Contain("more than one");
    }

    [Fact]
    public void Parse_RandomBytesAsJson_AreBadInputNeverAnotherException()
    {
        var random = new Random(3);
        var seed = Encoding.UTF8.GetBytes("{\"image\":[[1,2,3],[4,5,6]],\"pixels\":[1.5e2,-0,\"x\",null,true]}");
        for (int trial = 0; trial < 3000; trial++)
        {
            var bytes = (byte[])seed.Clone();
            for (int k = 0; k < 1 + random.Next(5); k++)
            {
                const string alphabet = "{}[],:\"0123456789.e-x \u00ff";
                bytes[random.Next(bytes.Length)] = (byte)alphabet[random.Next(alphabet.Length)];
            }

            try
            {
                RequestParser.Parse(RequestFormat.Json, bytes, new InputLayout([2, 3]));
            }
            catch (BadInputException)
            {
            }
        }
    }

    // Yields `length` bytes of 7, counting what was read.
    private sealed class CountingStream(long length) : Stream
    {
        public long BytesRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(Math.Min(buffer.Length, 1000), length - BytesRead);
            buffer[..n].Fill(7);
            BytesRead += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
