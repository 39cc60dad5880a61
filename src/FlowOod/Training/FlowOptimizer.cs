using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Training;

/// <summary>
/// Adam and RMSprop for <see cref="FlowTrainer"/>: the update of TorchSharp 0.107's <c>optim.Adam</c> (β₁ 0.9, β₂ 0.999,
/// ε 1e-8) and <c>optim.RMSProp</c> (α 0.99, ε 1e-8, no momentum, not centred), op for op, so a step gives the same bits;
/// but every <see cref="Scalar"/> a step hands to libtorch is one this class made and disposes after the step.
/// TorchSharp's own <c>step</c> passes temporaries (<c>mul_(double)</c>, <c>add_(t, alpha: double)</c>, <c>t / double</c>,
/// <c>addcdiv_(…, value: double)</c>) that the finalizer can free during the native call (docs/design.md, "Scalars"):
/// a test run saw "Expected false to be true … toDouble" thrown from <c>Adam.step</c>.
/// </summary>
/// <remarks>
/// Adam, per parameter p with gradient g at step t (g ← g + λp with weight decay λ):
/// m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
/// RMSprop: v ← αv + (1 − α)g²; p ← p − lr · g / (√v + ε). Parameters without a gradient are skipped.
/// Owns its state tensors (<see cref="Dispose"/>); the parameters stay the flow's.
/// </remarks>
internal sealed class FlowOptimizer : IDisposable
{
    private const double Beta1 = 0.9;
    private const double Beta2 = 0.999;
    private const double Alpha = 0.99;
    private const double Epsilon = 1e-8;

    private readonly Parameter[] parameters;
    private readonly OptimizerKind kind;
    private readonly double learningRate;
    private readonly double weightDecay;
    private readonly Tensor[] firstMoments;
    private readonly Tensor[] secondMoments;
    private readonly Scalar decay1, rest1, decay2, rest2, epsilon, weightDecayScalar, minusLearningRate;
    private long step;

    public FlowOptimizer(Parameter[] parameters, OptimizerKind kind, double learningRate, double weightDecay)
    {
        this.parameters = parameters;
        this.kind = kind;
        this.learningRate = learningRate;
        this.weightDecay = weightDecay;
        using (no_grad())
        {
            firstMoments = kind == OptimizerKind.Adam ? parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray() : [];
            secondMoments = parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        }

        var first = kind == OptimizerKind.Adam ? Beta1 : 0;
        var second = kind == OptimizerKind.Adam ? Beta2 : Alpha;
        decay1 = first.ToScalar();
        rest1 = (1 - first).ToScalar();
        decay2 = second.ToScalar();
        rest2 = (1 - second).ToScalar();
        epsilon = Epsilon.ToScalar();
        weightDecayScalar = weightDecay.ToScalar();
        minusLearningRate = (-learningRate).ToScalar();
    }

    /// <summary>Sets every existing gradient to zero (as <c>OptimizerHelper.zero_grad</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var parameter in parameters)
        {
            using var gradient = parameter.grad;
            gradient?.zero_();
        }
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        step++;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var sqrtCorrection2 = Math.Sqrt(1 - Math.Pow(Beta2, step)).ToScalar();
        using var minusStepSize = (-(learningRate / (1 - Math.Pow(Beta1, step)))).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            var parameter = parameters[i];
            var gradient = parameter.grad;
            if (gradient is null)
            {
                continue;
            }

            if (weightDecay != 0)
            {
                gradient = gradient.add(parameter, weightDecayScalar);
            }

            var second = secondMoments[i];
            second.mul_(decay2).addcmul_(gradient, gradient, rest2);
            if (kind == OptimizerKind.Adam)
            {
                var first = firstMoments[i];
                first.mul_(decay1).add_(gradient, rest1);
                var denominator = second.sqrt().div(sqrtCorrection2).add_(epsilon, ScalarMath.One);
                parameter.addcdiv_(first, denominator, minusStepSize);
            }
            else
            {
                var average = second.sqrt().add_(epsilon, ScalarMath.One);
                parameter.addcdiv_(gradient, average, minusLearningRate);
            }
        }
    }

    /// <summary>Frees the moment tensors and the cached scalars (never the parameters).</summary>
    public void Dispose()
    {
        foreach (var tensor in firstMoments.Concat(secondMoments))
        {
            tensor.Dispose();
        }

        foreach (var scalar in new[] { decay1, rest1, decay2, rest2, epsilon, weightDecayScalar, minusLearningRate })
        {
            scalar.Dispose();
        }
    }
}
