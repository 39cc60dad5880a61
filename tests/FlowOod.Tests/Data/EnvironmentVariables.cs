using System;
using System.Collections.Generic;

namespace FlowOod.Tests.Data;

// Sets environment variables for the duration of a test and restores their previous values afterwards.
internal sealed class EnvironmentVariables : IDisposable
{
    private readonly Dictionary<string, string?> _saved = [];

    public EnvironmentVariables Set(string name, string? value)
    {
        _saved.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
        return this;
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
