namespace FlowOod.Training;

/// <summary>The optimiser <see cref="FlowTrainer"/> uses.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (β = 0.9, 0.999): Kirichenko et al.'s choice for RealNVP (lr 5e-5 or 1e-4, batch 32).</summary>
    Adam,

    /// <summary>RMSprop (α = 0.99): Kirichenko et al.'s choice for Glow (lr 5e-5 on Fashion-MNIST, 1e-5 on CelebA).</summary>
    RmsProp,
}
