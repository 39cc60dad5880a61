using System;
using System.IO;
using FlowOod;
using FlowOod.Tests.Persistence.Golden;

// Usage: dotnet run --project tests/GoldenGenerator -c Release -- <output folder>
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: GoldenGenerator <output folder>");
    return 2;
}

FlowOodRuntime.EnsureAvailable();
TorchSharp.torch.set_num_threads(1);
GoldenModels.WriteAll(args[0]);
foreach (var file in Directory.GetFiles(args[0]))
{
    Console.WriteLine($"{new FileInfo(file).Length,9} {Path.GetFileName(file)}");
}

return 0;
