namespace FlowOod.Gating;

/// <summary>
/// The classifier passed to <see cref="OodGate.Load"/> is not the one the gate was fitted with: its parameters and buffers
/// (names, dtypes, shapes or values) differ from the <see cref="ClassifierFingerprint"/> stored in the gate file. The
/// message names the first parameter or buffer that differs, or says that the names and shapes agree but the weights differ.
/// </summary>
/// <remarks>A gate's calibration (threshold, p-values) is only valid for the exact classifier it was fitted on: features of
/// another classifier, even a retrained one of the same architecture, have a different distribution.</remarks>
public sealed class GateMismatchException : FlowOodException
{
    /// <summary>Creates the exception with a message naming what differs.</summary>
    /// <param name="message">What differs between the stored fingerprint and the classifier given.</param>
    public GateMismatchException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message naming what differs and the exception that revealed it.</summary>
    /// <param name="message">What differs between the stored fingerprint and the classifier given.</param>
    /// <param name="innerException">The exception that revealed the mismatch.</param>
    public GateMismatchException(string message, System.Exception innerException)
        : base(message, innerException)
    {
    }
}
