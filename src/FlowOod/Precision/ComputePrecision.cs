namespace FlowOod.Precision;

/// <summary>The floating-point type the st-networks (the coupling layers' conditioners) compute in.</summary>
/// <remarks>
/// Whatever is chosen, only the st-networks change precision: the coupling arithmetic, the log-determinants, the base
/// log-density and every sum stay in the flow's own dtype (float32 or float64). See <see cref="ConditionerPrecision"/>.
/// </remarks>
public enum ComputePrecision
{
    /// <summary>bf16 on a CPU that lists native bf16 instructions (<see cref="ProcessorInfo.HasNativeBFloat16"/>),
    /// float32 everywhere else (see <see cref="ConditionerPrecision.Choose"/> for the reason given).</summary>
    Auto = 0,

    /// <summary>The flow's own dtype (float32 for FlowOod's builders): no conversion.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "The format's name, as torch spells its dtypes.")]
    Float32 = 1,

    /// <summary>bfloat16 (8 exponent bits, 8 significand bits): the st-networks' inputs, weights and activations.</summary>
    BFloat16 = 2,
}
