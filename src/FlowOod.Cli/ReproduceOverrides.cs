using System;
using System.Collections.Generic;

namespace FlowOod.Cli;

/// <summary>
/// Tiny-size replacements of each experiment's budget, for tests: per options type a change applied to the options a
/// reproduce run makes (<see cref="Apply{T}"/>). The constructor takes the eight experiments' changes; <see cref="With{T}"/>
/// adds one for another experiment.
/// </summary>
internal sealed class ReproduceOverrides
{
    private readonly Dictionary<Type, Func<ExperimentOptions, ExperimentOptions>> changes = [];

    public ReproduceOverrides(
        Func<BaselineOptions, BaselineOptions> baseline,
        Func<LatentsOptions, LatentsOptions> latents,
        Func<CouplingsOptions, CouplingsOptions> couplings,
        Func<BiasesOptions, BiasesOptions> biases,
        Func<NegativeOptions, NegativeOptions> negative,
        Func<ScorersOptions, ScorersOptions> scorers,
        Func<LikelihoodRatioSelectionOptions, LikelihoodRatioSelectionOptions> selection,
        Func<GeneraliseOptions, GeneraliseOptions> generalise)
    {
        With(baseline).With(latents).With(couplings).With(biases).With(negative).With(scorers).With(selection).With(generalise);
    }

    /// <summary>Replaces the options of type <typeparamref name="T"/> with <paramref name="change"/>'s; returns this.</summary>
    public ReproduceOverrides With<T>(Func<T, T> change)
        where T : ExperimentOptions
    {
        ArgumentNullException.ThrowIfNull(change);
        changes[typeof(T)] = options => change((T)options);
        return this;
    }

    /// <summary><paramref name="options"/> changed by the change of its type, if any.</summary>
    public T Apply<T>(T options)
        where T : ExperimentOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        return changes.TryGetValue(options.GetType(), out var change) ? (T)change(options) : options;
    }
}
