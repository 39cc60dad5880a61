using System.Globalization;
using System.Threading.Tasks;

namespace FlowOod.Benchmarks.Serving;

/// <summary><c>[requestsPerRun] [soakRequests] [modelsFolder]</c>: see <see cref="ServeLoad"/>.</summary>
internal static class Program
{
    public static Task<int> Main(string[] args)
    {
        FlowOodRuntime.DisableNnpack(); // process-wide, before the first tensor: no NNPACK warning per single-image request
        int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
        return ServeLoad.RunAsync(Arg(0, 4000), Arg(1, 100_000), args.Length > 2 ? args[2] : null);
    }
}
