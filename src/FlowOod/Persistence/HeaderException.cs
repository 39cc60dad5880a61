using System;

namespace FlowOod.Persistence;

/// <summary>
/// A problem found in a model file's JSON header, named by its JSON path. Thrown by the header readers, which do not
/// know the file; <see cref="ModelFile"/> turns it into a <see cref="ModelFormatException"/> naming the file, in one place.
/// </summary>
internal sealed class HeaderException : Exception
{
    public HeaderException(string message)
        : base(message)
    {
    }

    public HeaderException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
