namespace FlowOod.Analysis;

/// <summary>
/// Which statistics the BatchNorm layers inside a flow's st-networks normalise with while an analysis runs (Kirichenko
/// et al. 2020, Sec. 5, compare RealNVP latents under both).
/// </summary>
/// <remarks>
/// The analysed flow itself is never switched or updated: <see cref="Batch"/>, and <see cref="Running"/> for a flow
/// that is not in evaluation mode, run on a private copy of the flow (which needs a flow made by FlowOod's builders or
/// by an <see cref="Models.IFlowBuilderOptions"/> component) that is disposed before the call returns.
/// </remarks>
public enum BatchNormStatistics
{
    /// <summary>
    /// The running averages learnt in training (evaluation mode, <c>eval()</c>): each example's result is independent of
    /// the rest of the batch. The default.
    /// </summary>
    Running,

    /// <summary>
    /// The mean and variance of the batch being analysed (training mode, <c>train()</c>): each example's result depends
    /// on the whole batch, as during training.
    /// </summary>
    Batch,
}
