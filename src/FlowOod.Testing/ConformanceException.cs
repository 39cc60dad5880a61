using System;

namespace FlowOod.Testing;

/// <summary>A bijector failed a conformance check; the message names the case, the check and the measured error.</summary>
public sealed class ConformanceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConformanceException(string message)
        : base(message)
    {
    }
}
