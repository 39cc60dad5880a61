using System;
using System.IO;

namespace FlowOod.Docs.Tests;

/// <summary>The folder holding FlowOod.sln, found above this test's output folder.</summary>
internal static class RepositoryRoot
{
    /// <summary>The repository root.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "FlowOod.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("FlowOod.sln not found above the test's output folder.");
    }
}
