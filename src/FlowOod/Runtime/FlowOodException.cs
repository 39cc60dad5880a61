namespace FlowOod;

/// <summary>Base type of every exception FlowOod throws for a problem it detected itself.</summary>
public class FlowOodException : System.Exception
{
    /// <summary>Creates an exception with a message that names the problem.</summary>
    public FlowOodException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message that names the problem and the exception that revealed it.</summary>
    public FlowOodException(string message, System.Exception innerException)
        : base(message, innerException)
    {
    }
}
