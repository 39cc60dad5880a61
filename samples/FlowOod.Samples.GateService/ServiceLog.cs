using Microsoft.Extensions.Logging;

namespace FlowOod.Samples.GateService;

// The service's log messages (source-generated).
internal static partial class ServiceLog
{
    [LoggerMessage(1, LogLevel.Information, "Using the classifier {Classifier} and the gate {Gate} (pass --retrain true to train them again)")]
    public static partial void UsingModels(ILogger logger, string classifier, string gate);

    [LoggerMessage(2, LogLevel.Information, "First start: training the classifier on {Count} Fashion-MNIST images ({Steps} steps)")]
    public static partial void TrainingClassifier(ILogger logger, int count, int steps);

    [LoggerMessage(3, LogLevel.Information, "Classifier: final loss {Loss:F3}, test accuracy {Accuracy:P1} ({Seconds:F0} s)")]
    public static partial void ClassifierTrained(ILogger logger, double loss, double accuracy, double seconds);

    [LoggerMessage(4, LogLevel.Information, "Fitting the gate at α = {Alpha} on Fashion-MNIST training images {From} … {To}")]
    public static partial void FittingGate(ILogger logger, double alpha, int from, int to);

    [LoggerMessage(5, LogLevel.Information, "Gate saved to {Path}: threshold {Threshold:G6} ({Seconds:F0} s in all)")]
    public static partial void GateSaved(ILogger logger, string path, double threshold, double seconds);

    [LoggerMessage(6, LogLevel.Information, "Exported the classifier to {Classifier} and the gate to {Gate} for the ONNX mode (FlowOod.Samples.GateService.Onnx)")]
    public static partial void OnnxExported(ILogger logger, string classifier, string gate);
}
