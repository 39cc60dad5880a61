using System;
using FlowOod.Bijectors;
using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Primitives;

namespace FlowOod.Testing;

/// <summary>
/// FluentAssertions 7 assertions over a <see cref="BijectorCase"/>: <c>testCase.Should().Conform()</c>,
/// <c>.BeInvertible()</c>, <c>.HaveExactLogDet()</c>, <c>.PassGradientsToEveryParameter()</c>, <c>.SurviveSaveAndLoad()</c>.
/// Each wraps the matching <see cref="BijectorConformance"/> check and fails with its message.
/// </summary>
public sealed class BijectorCaseAssertions : ReferenceTypeAssertions<BijectorCase, BijectorCaseAssertions>
{
    private readonly ConformanceTolerances tolerances;

    /// <summary>Creates the assertions.</summary>
    public BijectorCaseAssertions(BijectorCase subject, ConformanceTolerances? tolerances = null)
        : base(subject)
    {
        this.tolerances = tolerances ?? ConformanceTolerances.Default;
    }

    /// <inheritdoc/>
    protected override string Identifier => "bijector case";

    /// <summary>Every conformance check passes (<see cref="BijectorConformance.Verify"/>).</summary>
    public AndConstraint<BijectorCaseAssertions> Conform(string because = "", params object[] becauseArgs) =>
        Check(tc => BijectorConformance.Verify(tc, tolerances), because, becauseArgs);

    /// <summary>Inverse(Forward(x)) ≈ x and Forward(Inverse(y)) ≈ y, with antisymmetric log-determinants.</summary>
    public AndConstraint<BijectorCaseAssertions> BeInvertible(string because = "", params object[] becauseArgs) => Check(tc =>
    {
        BijectorConformance.InverseOfForwardRecoversInput(tc, tolerances);
        BijectorConformance.ForwardOfInverseRecoversLatent(tc, tolerances);
        BijectorConformance.LogDetIsAntisymmetric(tc, tolerances);
    }, because, becauseArgs);

    /// <summary>LogDet equals log|det J| of the autograd Jacobian (float64, one example).</summary>
    public AndConstraint<BijectorCaseAssertions> HaveExactLogDet(string because = "", params object[] becauseArgs) =>
        Check(tc => BijectorConformance.LogDetMatchesJacobian(tc, tolerances), because, becauseArgs);

    /// <summary>Every parameter and the input receive a non-zero gradient.</summary>
    public AndConstraint<BijectorCaseAssertions> PassGradientsToEveryParameter(string because = "", params object[] becauseArgs) =>
        Check(tc => BijectorConformance.GradientsReachEveryParameter(tc, tolerances), because, becauseArgs);

    /// <summary>Saving the state dict and loading it into a fresh bijector gives bit-identical outputs.</summary>
    public AndConstraint<BijectorCaseAssertions> SurviveSaveAndLoad(string because = "", params object[] becauseArgs) =>
        Check(tc => BijectorConformance.SaveLoadGivesIdenticalOutputs(tc, tolerances), because, becauseArgs);

    private AndConstraint<BijectorCaseAssertions> Check(Action<BijectorCase> check, string because, object[] becauseArgs)
    {
        string? failure = null;
        try
        {
            check(Subject);
        }
        catch (ConformanceException e)
        {
            failure = e.Message;
        }

        Execute.Assertion
            .BecauseOf(because, becauseArgs)
            .ForCondition(failure is null)
            .FailWith("Expected {context:bijector case} to conform{reason}, but " + (failure ?? string.Empty).Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));
        return new AndConstraint<BijectorCaseAssertions>(this);
    }
}
