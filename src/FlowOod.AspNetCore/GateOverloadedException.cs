using System;

namespace FlowOod.AspNetCore;

/// <summary>
/// The scoring queue is full (<see cref="FlowOodServingOptions.MaxQueueLength"/> requests are already waiting): the request
/// was refused at once instead of waiting. The classify endpoint answers 503 with a Retry-After header.
/// </summary>
public sealed class GateOverloadedException : Exception
{
    /// <summary>Creates the exception with its default message.</summary>
    public GateOverloadedException()
        : this("The OOD gate's queue is full; retry later.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What was refused.</param>
    public GateOverloadedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    /// <param name="message">What was refused.</param>
    /// <param name="innerException">The cause.</param>
    public GateOverloadedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
