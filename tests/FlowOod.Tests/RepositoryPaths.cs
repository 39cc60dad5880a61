using System;
using System.IO;
using System.Linq;

namespace FlowOod.Tests;

// Where the repository and the build outputs of its other projects are, found from this test's output folder.
internal static class RepositoryPaths
{
    // The folder holding FlowOod.sln.
    public static string Root { get; } = FindRoot();

    // The build output of a project of the repository (folder "src", "samples" or "tests"), in this test's configuration:
    // tests/FlowOod.Tests/bin/<Configuration>/net10.0[/<rid>] → <folder>/<project>/bin/<Configuration>/net10.0[/<rid>].
    public static string OutputOf(string folder, string project, string fileName)
    {
        var relative = Path.GetRelativePath(Path.Combine(Root, "tests", "FlowOod.Tests"), AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var withRid = Path.Combine(Root, folder, project, relative);
        var withoutRid = Path.GetDirectoryName(withRid)!;
        return new[] { withRid, withoutRid }.Select(d => Path.Combine(d, fileName)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"{fileName} is not built into {withRid} or {withoutRid}; build FlowOod.sln first.");
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "FlowOod.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("FlowOod.sln not found above the test's output folder.");
    }
}
