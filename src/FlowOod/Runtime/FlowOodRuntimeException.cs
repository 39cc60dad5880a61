namespace FlowOod;

/// <summary>
/// TorchSharp's native backend could not be loaded: a backend package is missing, or the machine's C++ runtime is too
/// old for it. The message says which, and what to do.
/// </summary>
public sealed class FlowOodRuntimeException : FlowOodException
{
    /// <summary>Creates the exception.</summary>
    public FlowOodRuntimeException(string message, System.Exception innerException)
        : base(message, innerException)
    {
    }
}
