using System;
using System.Globalization;

namespace FlowOod.Cli;

/// <summary>The entry point of the <c>flowood</c> tool.</summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        return CliApp.Run(args, Console.Out, Console.Error);
    }
}
