using System;
using System.Linq;
using BenchmarkDotNet.Running;

namespace FlowOod.Benchmarks;

/// <summary>
/// Entry point. <c>throughput [trainSteps] [scoreImages] [threads]</c> prints training and scoring images/s of the
/// compact RealNVP; anything else goes to BenchmarkDotNet's switcher.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "throughput")
        {
            int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
            return Throughput.Run(Arg(1, 30), Arg(2, 2048), Arg(3, 0));
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
