// The new-user walkthrough of README.md ("An OOD check in front of the classifier you already run"), from the packages:
// PackageConsumerTests copies this folder into a fresh project in a temporary folder that references the packed
// FlowOod, FlowOod.AspNetCore and FlowOod.OnnxRuntime packages and TorchSharp-cpu, builds it and runs each check in its
// own process: `dotnet App.dll MODE [ASP.NET Core arguments such as --urls http://127.0.0.1:0]`. A failed check throws
// (exit code ≠ 0) with a message naming what differed from the documentation.
using System;
using System.Diagnostics;
using System.Linq;
using FlowOod;
using Walkthrough;

var clock = Stopwatch.StartNew();
FlowOodRuntime.EnsureAvailable();   // docs/getting-started.md §2: a clear exception when libtorch cannot load
string mode = args.Length > 0 ? args[0] : "library";
string[] hostArgs = args.Skip(1).ToArray();
switch (mode)
{
    case "library":             // a tiny flow, a TorchSharp classifier → gate, embeddings → detector; no HTTP
        LibraryWalkthrough.Run();
        break;
    case "gate-http":           // a TorchSharp classifier → gate → HTTP (/classify, /health)
        await GateHttpWalkthrough.RunAsync(hostArgs);
        break;
    case "embeddings-http":     // embeddings → detector → HTTP (/embeddings, /health)
        await EmbeddingsHttpWalkthrough.RunAsync(hostArgs);
        break;
    case "onnx":                // an ONNX classifier → gate (fit, save, reload), then behind HTTP
        await OnnxWalkthrough.RunAsync(hostArgs);
        break;
    default:
        throw new ArgumentException($"Unknown mode '{mode}': library, gate-http, embeddings-http or onnx.", nameof(args));
}

Console.WriteLine($"{mode}: passed in {clock.Elapsed.TotalSeconds:F1} s");
