namespace FlowOod.Training;

/// <summary>
/// Training produced a non-finite loss or gradient. The update of that step was not applied, so the model keeps the
/// parameters of the last good step.
/// </summary>
public sealed class TrainingDivergedException : FlowOodException
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(int step, double loss, double gradientNorm)
        : base($"Training diverged at step {step}: loss {loss}, gradient norm {gradientNorm}. The update was not applied; "
            + "lower the learning rate, keep gradient clipping on, or check the data for out-of-range values.")
    {
        Step = step;
        Loss = loss;
        GradientNorm = gradientNorm;
    }

    /// <summary>The step (1-based) at which the non-finite value appeared.</summary>
    public int Step { get; }

    /// <summary>The loss at that step.</summary>
    public double Loss { get; }

    /// <summary>The global gradient norm at that step (NaN when the loss was already non-finite).</summary>
    public double GradientNorm { get; }
}
