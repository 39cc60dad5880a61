namespace FlowOod.AspNetCore;

/// <summary>The body formats the classify endpoint reads.</summary>
internal enum RequestFormat
{
    /// <summary><c>image/png</c>.</summary>
    Png,

    /// <summary><c>application/octet-stream</c>: prod(InputShape) bytes, one per value, row-major.</summary>
    Raw,

    /// <summary><c>application/json</c>: <c>{"pixels":[...]}</c> or <c>{"image":[[...]]}</c>.</summary>
    Json,
}
