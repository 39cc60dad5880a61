using TorchSharp;

namespace FlowOod.Conditioners;

/// <summary>
/// An st-network that can fold its evaluation-mode normalisation layers into its convolutions for a frozen inference
/// copy (<c>ConditionerPrecision.CreateInferenceCopy</c>): the folded weights are held beside the parameters, which stay
/// as they were (so the network saves, copies and trains as before), and are used in evaluation mode only.
/// </summary>
internal interface IFoldableConditioner
{
    /// <summary>Whether folded weights are held.</summary>
    bool IsFolded { get; }

    /// <summary>Computes the folded weights from the current parameters and running statistics (again, if called twice):
    /// for a private copy nobody trains any more.</summary>
    void FoldForInference();

    /// <summary>Converts the folded weights (if any) to <paramref name="dtype"/>, once.</summary>
    void ConvertFolded(torch.ScalarType dtype);
}
