namespace FlowOod.Data;

/// <summary>
/// An IDX file (the MNIST file format) is malformed, truncated, too large, or of an element type FlowOod does not read.
/// The message names the file and the problem.
/// </summary>
public sealed class IdxFormatException : FlowOodException
{
    /// <summary>Creates the exception with a message that names the file and the problem.</summary>
    public IdxFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message that names the file and the problem, and the exception that revealed it.</summary>
    public IdxFormatException(string message, System.Exception innerException)
        : base(message, innerException)
    {
    }
}
