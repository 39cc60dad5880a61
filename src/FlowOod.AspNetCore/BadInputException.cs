using System;

namespace FlowOod.AspNetCore;

/// <summary>A request body the gate cannot score; carries the HTTP status it maps to (400, 408, 413 or 415).</summary>
internal sealed class BadInputException : Exception
{
    public BadInputException(int statusCode, string message)
        : base(message) => StatusCode = statusCode;

    public BadInputException()
        : this(400, "Bad input.")
    {
    }

    public BadInputException(string message)
        : this(400, message)
    {
    }

    public BadInputException(string message, Exception innerException)
        : base(message, innerException) => StatusCode = 400;

    /// <summary>400 (malformed), 408 (body not received in time), 413 (too large) or 415 (unsupported media or image kind).</summary>
    public int StatusCode { get; }

    public static BadInputException Malformed(string message) => new(400, message);

    public static BadInputException Unsupported(string message) => new(415, message);

    public static BadInputException TooLarge(string message) => new(413, message);

    public static BadInputException TimedOut(string message) => new(408, message);
}
