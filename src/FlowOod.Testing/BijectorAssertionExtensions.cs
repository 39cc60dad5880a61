using FlowOod.Bijectors;

namespace FlowOod.Testing;

/// <summary>Entry points of the FluentAssertions extensions.</summary>
public static class BijectorAssertionExtensions
{
    /// <summary>Assertions over a conformance case: <c>testCase.Should().Conform()</c>.</summary>
    public static BijectorCaseAssertions Should(this BijectorCase testCase) => new(testCase);

    /// <summary>
    /// Wraps a bijector factory and input shape into a <see cref="BijectorCase"/> for assertions, e.g.
    /// <c>BijectorAssertionExtensions.Case(() => new MyCoupling(...), [2, 4, 4]).Should().BeInvertible()</c>.
    /// </summary>
    public static BijectorCase Case(System.Func<Bijector> create, long[] eventShape, InputKind input = InputKind.Gaussian) =>
        new() { Name = create?.Method.Name ?? "bijector", Create = create!, EventShape = eventShape, Input = input };
}
