using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading;
using System.Threading.Tasks;
using FlowOod.Data;
using FlowOod.Precision;
using FlowOod.Samples.FashionMnist;
using FlowOod.Samples.GateService;
using Microsoft.AspNetCore.Builder;
using static TorchSharp.torch;

namespace FlowOod.Benchmarks.Serving;

/// <summary>
/// Load test of the gate service over loopback HTTP (<c>./build.sh bench-serve</c>): the sample service in this process
/// (a real Kestrel on 127.0.0.1), 1, 8 and 32 concurrent clients sending raw 784-byte images, once with micro-batching
/// (MaxBatchSize 32) and once with a per-request loop (MaxBatchSize 1). Every answer is compared with the serial answer
/// for the same image; then a soak of many requests at 32 clients watches the live tensor count and the RSS.
/// </summary>
/// <remarks>Arguments: <c>[requestsPerRun] [soakRequests] [modelsFolder]</c>, defaults 4000, 100000 and the sample's.
/// Clients and server share the machine's cores, as a sidecar gate would.</remarks>
internal static class ServeLoad
{
    private const int DistinctImages = 512;
    private static readonly int[] ClientCounts = [1, 8, 32];

    private static readonly (string Name, string[] Settings)[] Modes =
    [
        ("micro-batched, no wait (MaxBatchSize 32, MaxBatchDelay 0)", ["--FlowOod:Gate:MaxBatchSize", "32", "--FlowOod:Gate:MaxBatchDelay", "00:00:00"]),
        ("micro-batched, 2 ms wait (MaxBatchSize 32, MaxBatchDelay 2 ms)", ["--FlowOod:Gate:MaxBatchSize", "32", "--FlowOod:Gate:MaxBatchDelay", "00:00:00.002"]),
        ("per-request loop (MaxBatchSize 1)", ["--FlowOod:Gate:MaxBatchSize", "1"]),
    ];

    public static async Task<int> RunAsync(int requestsPerRun, int soakRequests, string? models)
    {
        Console.WriteLine(Machine.Describe());
        var fashion = FlowOodDatasets.FashionMnist(DatasetSplit.Test);
        var mnist = FlowOodDatasets.Mnist(DatasetSplit.Test);
        var images = Enumerable.Range(0, DistinctImages)
            .Select(i => (i % 2 == 0 ? fashion : mnist).Pixels.Slice((i / 2) * 784, 784).ToArray())
            .ToArray();
        string[] common = models is null ? [] : ["--models", models];

        string[]? reference = null;
        foreach (var (mode, settings) in Modes)
        {
            var clock = Stopwatch.StartNew();
            await using var service = await Service.StartAsync([.. common, .. settings]);
            var start = await service.FirstAnswerAsync(images[0], clock);
            reference ??= await service.SerialAsync(images);
            Console.WriteLine($"\n{mode}; torch threads {get_num_threads()}; start to first answer {start:F2} s (in process)");
            await PrintClientRunsAsync(service, images, reference, requestsPerRun);
        }

        await OnnxModeAsync(images, requestsPerRun, models);

        if (soakRequests > 0)
        {
            await using var service = await Service.StartAsync([.. common, .. Modes[0].Settings]);
            Console.WriteLine($"\nsoak: {soakRequests:N0} requests, 32 clients, {Modes[0].Name}");
            Console.WriteLine("requests  requests/s  live tensors  RSS MiB  managed MiB  differ  failures");
            const int Step = 10_000;
            await service.RunAsync(images, reference!, 32, 1000);
            for (int done = 0; done < soakRequests; done += Step)
            {
                var run = await service.RunAsync(images, reference!, 32, Math.Min(Step, soakRequests - done));
                using var self = Process.GetCurrentProcess();
                Console.WriteLine(FormattableString.Invariant(
                    $"{done + run.Requests,8}  {run.RequestsPerSecond,10:F0}  {Tensor.TotalCount,12}  {self.WorkingSet64 / 1048576.0,7:F0}  {GC.GetTotalMemory(false) / 1048576,11}  {run.Mismatches,6}  {run.Failures,8}"));
            }
        }

        return 0;
    }

    // The ONNX mode (samples/FlowOod.Samples.GateService.Onnx): the files the TorchSharp service exported on its first
    // start, served with ONNX Runtime alone (one intra-op thread per call; requests run concurrently, no micro-batching).
    private static async Task OnnxModeAsync(byte[][] images, int requestsPerRun, string? models)
    {
        var clock = Stopwatch.StartNew();
        string[] args = ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning", .. models is null ? Array.Empty<string>() : ["--models", models]];
        await using var service = await Service.StartAsync(Samples.GateService.Onnx.Program.Build(args));
        var start = await service.FirstAnswerAsync(images[0], clock);
        var reference = await service.SerialAsync(images);
        Console.WriteLine($"\nONNX mode: classifier and gate through ONNX Runtime (no libtorch); start to first answer {start:F2} s (in process, after the modes above warmed the JIT)");
        await PrintClientRunsAsync(service, images, reference, requestsPerRun);
        Console.WriteLine(Machine.NativeLibraries());
    }

    // One table per mode: a warm-up then a measured run at each client count, every answer compared with the serial one.
    private static async Task PrintClientRunsAsync(Service service, byte[][] images, string[] reference, int requestsPerRun)
    {
        Console.WriteLine("clients  requests  requests/s  p50 ms  p99 ms  max ms  differ from serial  non-2xx/422");
        foreach (int clients in ClientCounts)
        {
            await service.RunAsync(images, reference, clients, Math.Min(200, requestsPerRun));   // warm-up
            var run = await service.RunAsync(images, reference, clients, requestsPerRun);
            Console.WriteLine(FormattableString.Invariant(
                $"{clients,7}  {run.Requests,8}  {run.RequestsPerSecond,10:F0}  {run.Percentile(0.50),6:F2}  {run.Percentile(0.99),6:F2}  {run.Percentile(1),6:F1}  {run.Mismatches,18}  {run.Failures,11}"));
        }
    }

    private sealed class Service : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly HttpClient client;

        private Service(WebApplication app)
        {
            this.app = app;
            client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri(app.Urls.Single()) };
        }

        public static Task<Service> StartAsync(string[] extra) => StartAsync(GateServiceApp.Build(
            ["--urls", "http://127.0.0.1:0", "--metrics-interval", "0", "--FlowOod:Gate:MaxQueueLength", "1024", "--Logging:LogLevel:Default", "Warning", .. extra]));

        public static async Task<Service> StartAsync(WebApplication app)
        {
            await app.StartAsync();
            return new Service(app);
        }

        // Seconds from the clock's start (before the app was built: models loaded) to the first successful answer.
        public async Task<double> FirstAnswerAsync(byte[] image, Stopwatch clock)
        {
            var (status, _) = await PostAsync(image);
            return status is 200 or 422 ? clock.Elapsed.TotalSeconds : throw new InvalidOperationException($"The first request failed with status {status}.");
        }

        public async Task<string[]> SerialAsync(byte[][] images)
        {
            var answers = new string[images.Length];
            for (int i = 0; i < images.Length; i++)
            {
                answers[i] = (await PostAsync(images[i])).Text;
            }

            return answers;
        }

        public async Task<Run> RunAsync(byte[][] images, string[] reference, int clients, int requests)
        {
            var latencies = new double[requests];
            int next = -1, mismatches = 0, failures = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
            {
                for (int r = Interlocked.Increment(ref next); r < requests; r = Interlocked.Increment(ref next))
                {
                    int image = (int)((r * 2654435761L) % images.Length);   // a fixed shuffle: neighbours in a batch differ
                    long start = Stopwatch.GetTimestamp();
                    var (status, text) = await PostAsync(images[image]);
                    latencies[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    if (status is not (200 or 422))
                    {
                        Interlocked.Increment(ref failures);
                    }
                    else if (text != reference[image])
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }
            })));
            return new Run(requests, requests / clock.Elapsed.TotalSeconds, latencies, mismatches, failures);
        }

        private async Task<(int Status, string Text)> PostAsync(byte[] image)
        {
            using var content = new ByteArrayContent(image);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await client.PostAsync("/classify", content);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private sealed record Run(int Requests, double RequestsPerSecond, double[] Latencies, int Mismatches, int Failures)
    {
        public double Percentile(double q)
        {
            var sorted = Latencies.Order().ToArray();
            return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        }
    }
}

/// <summary>The machine a figure was measured on: CPU model, cores and the vector extensions that matter to libtorch.</summary>
internal static class Machine
{
    public static string Describe() => $"machine: {ProcessorInfo.Current.Describe()}, {Environment.ProcessorCount} cores; {RuntimeDescription()}";

    // The native libraries beside the benchmark (one build holds both modes): what each mode needs in its published folder.
    public static string NativeLibraries()
    {
        var files = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.so*", SearchOption.AllDirectories).Select(f => new FileInfo(f)).ToArray();
        double MiB(Func<FileInfo, bool> which) => files.Where(which).Sum(f => f.Length) / 1048576.0;
        var onnx = MiB(f => f.Name.StartsWith("libonnxruntime", StringComparison.Ordinal));
        var torch = MiB(f => !f.Name.StartsWith("libonnxruntime", StringComparison.Ordinal));
        return FormattableString.Invariant($"native libraries: ONNX Runtime {onnx:F0} MiB (the ONNX mode's only ones); libtorch and the rest {torch:F0} MiB (the TorchSharp mode's)");
    }

    private static string RuntimeDescription() =>
        $".NET {Environment.Version}, TorchSharp {typeof(Tensor).Assembly.GetName().Version}";
}
