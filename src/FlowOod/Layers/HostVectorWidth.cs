namespace FlowOod.Layers;

/// <summary>The SIMD width of a <see cref="HostConv"/> kernel.</summary>
internal enum HostVectorWidth
{
    /// <summary>256-bit vectors (AVX2 and FMA; emulated elsewhere).</summary>
    Bits256,

    /// <summary>512-bit vectors (AVX-512; emulated elsewhere).</summary>
    Bits512,
}
