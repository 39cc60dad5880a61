using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading.Tasks;
using FlowOod.AspNetCore.Tests;
using FluentAssertions;
using Xunit;

namespace FlowOod.GateService.Tests;

// Every kind of bad request over real HTTP: a 4xx with a problem message naming the fault, never a 500, and the
// service keeps answering good requests afterwards.
[Collection(ServiceDefinition.Name)]
public sealed class BadInputTests(ServiceFixture fixture, ITestOutputHelper output)
{
    private static readonly byte[] Grey = Enumerable.Range(0, 784).Select(i => (byte)(i % 256)).ToArray();

    private static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    private static string Pixels(int count, string last = "0") => "{\"pixels\":[" + string.Join(",", Enumerable.Repeat("0", count - 1)) + "," + last + "]}";

    private static (string Name, byte[] Body, string? Type, int Status, string Detail)[] Cases()
    {
        var png = TestPng.Image(Grey, 28, 28, colourType: 0);
        var badCrc = (byte[])png.Clone();
        badCrc[40] ^= 0xFF;
        return
        [
            ("empty body", [], "application/octet-stream", 400, "empty"),
            ("783 raw bytes", Grey[..783], "application/octet-stream", 400, "exactly 784"),
            ("785 raw bytes", [.. Grey, 0], "application/octet-stream", 400, "exactly 784"),
            ("truncated PNG", png[..(png.Length / 2)], "image/png", 400, "truncated"),
            ("PNG with a damaged chunk (CRC)", badCrc, "image/png", 400, "CRC"),
            ("PNG bomb: IHDR declares 2^30 x 2^30", TestPng.File(TestPng.Ihdr(1 << 30, 1 << 30), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[64])), TestPng.Chunk("IEND", [])), "image/png", 400, "28x28"),
            ("PNG bomb: 28x28 with an endless IDAT of zeros", TestPng.File(TestPng.Ihdr(28, 28), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[200_000])), TestPng.Chunk("IEND", [])), "image/png", 400, "inflates to more than"),
            ("PNG of the wrong size (27x28)", TestPng.Image(Grey[..(27 * 28)], 27, 28, colourType: 0), "image/png", 400, "28x28"),
            ("RGB PNG to a greyscale gate", TestPng.Image([.. Grey, .. Grey, .. Grey], 28, 28, colourType: 2), "image/png", 415, "channel"),
            ("16-bit PNG", TestPng.File(TestPng.Ihdr(28, 28, bitDepth: 16), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[28 * 57])), TestPng.Chunk("IEND", [])), "image/png", 415, "16"),
            ("interlaced PNG", TestPng.File(TestPng.Ihdr(28, 28, interlace: 1), TestPng.Chunk("IDAT", TestPng.Zlib(new byte[28 * 29])), TestPng.Chunk("IEND", [])), "image/png", 415, "nterlaced"),
            ("not a PNG at all", Grey, "image/png", 400, "signature"),
            ("JSON NaN literal", Json(Pixels(784, "NaN")), "application/json", 400, "malformed"),
            ("JSON \"NaN\" string", Json(Pixels(784, "\"NaN\"")), "application/json", 400, "not a number"),
            ("JSON 1e400 (infinite)", Json(Pixels(784, "1e400")), "application/json", 400, "not a finite number"),
            ("JSON -1", Json(Pixels(784, "-1")), "application/json", 400, "outside 0..255"),
            ("JSON 256", Json(Pixels(784, "256")), "application/json", 400, "outside 0..255"),
            ("JSON 783 pixels", Json(Pixels(783)), "application/json", 400, "784"),
            ("JSON truncated", Json("{\"pixels\":[1,2,3"), "application/json", 400, "malformed"),
            ("JSON without pixels or image", Json("{\"values\":[1]}"), "application/json", 400, "pixels"),
            ("wrong content type", Grey, "text/plain", 415, "not supported"),
            ("no content type", Grey, null, 415, "Content-Type"),
            ("body over the 256 KiB limit", new byte[300 * 1024], "application/octet-stream", 413, "at most"),
        ];
    }

    [Fact]
    public async Task Classify_EveryBadInput_Gets4xxWithAMessage_AndTheServiceKeepsServing()
    {
        await using var service = await fixture.StartAsync();
        foreach (var (name, body, type, expected, detail) in Cases())
        {
            using var content = new ByteArrayContent(body);
            if (type is not null)
            {
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
            }

            using var response = await service.Client.PostAsync("/classify", content);
            var text = await response.Content.ReadAsStringAsync();
            output.WriteLine($"{name}: {(int)response.StatusCode} {text}");
            ((int)response.StatusCode).Should().Be(expected, name);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json", name);
            using var problem = System.Text.Json.JsonDocument.Parse(text);
            problem.RootElement.GetProperty("status").GetInt32().Should().Be(expected, name);
            problem.RootElement.GetProperty("detail").GetString().Should().Contain(detail, name);
        }

        var (status, _, _) = await service.PostAsync(ServiceFixture.Raw(fixture.FashionTest, 0), "application/octet-stream");
        status.Should().BeOneOf(200, 422);
    }

    [Fact]
    public async Task Classify_ChunkedBodyOverTheLimit_Is413WithoutBufferingIt()
    {
        await using var service = await fixture.StartAsync();
        using var content = new ChunkedContent(new byte[4 * 1024 * 1024]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await service.Client.PostAsync("/classify", content);
        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await response.Content.ReadAsStringAsync()).Should().Contain("262144");
    }

    [Fact]
    public async Task Classify_DeclaredContentLengthOverTheLimit_Is413BeforeReading()
    {
        await using var service = await fixture.StartAsync();
        using var content = new ByteArrayContent(new byte[1024 * 1024]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await service.Client.PostAsync("/classify", content);
        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
    }

    // Sends its bytes without a Content-Length, so only the read loop can enforce the limit.
    private sealed class ChunkedContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            try
            {
                for (int i = 0; i < bytes.Length; i += 16 * 1024)
                {
                    await stream.WriteAsync(bytes.AsMemory(i, 16 * 1024));
                }
            }
            catch (IOException)
            {
                // the server answered 413 and stopped reading
            }
            catch (HttpRequestException)
            {
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
