using System.Collections.Generic;

namespace FlowOod.Cli.Experiments;

/// <summary>
/// Every experiment, in the order <c>flowood reproduce</c> runs them and the verb table lists them: a new experiment is
/// one file (its <see cref="IExperiment"/>) and one line here.
/// </summary>
internal static class ExperimentList
{
    public static IReadOnlyList<IExperiment> All { get; } =
    [
        new BaselineDefinition(),
        new LatentsDefinition(),
        new CouplingsDefinition(),
        new BiasesDefinition(),
        new NegativeDefinition(),
        new LikelihoodRatioSelectionDefinition(),
        new ScorersDefinition(),
        new GeneraliseDefinition(),
    ];
}
