using System;

namespace FlowOod.Components;

/// <summary>
/// A stored component description is invalid: a value is missing, of the wrong type or out of range, or names a
/// component the catalog does not hold. The message names the value's path (e.g. <c>$.flows[0].options.blocks</c>);
/// a model file turns it into a <c>ModelFormatException</c> that also names the file.
/// </summary>
public sealed class ComponentFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The problem, naming the path of the value.</param>
    public ComponentFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the exception that revealed the problem.</summary>
    /// <param name="message">The problem, naming the path of the value.</param>
    /// <param name="innerException">The cause.</param>
    public ComponentFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
