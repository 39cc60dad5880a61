namespace FlowOod.Persistence;

/// <summary>
/// A FlowOod model file is not one (wrong magic bytes), comes from a newer format version, is truncated, corrupted
/// (checksum mismatch) or internally inconsistent (declared sizes, shapes or settings that do not fit). The message names
/// the file and the problem. Nothing is allocated for a file before it passes these checks.
/// </summary>
public sealed class ModelFormatException : FlowOodException
{
    /// <summary>Creates the exception with a message that names the file and the problem.</summary>
    public ModelFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message that names the file and the problem, and the exception that revealed it.</summary>
    public ModelFormatException(string message, System.Exception innerException)
        : base(message, innerException)
    {
    }
}
