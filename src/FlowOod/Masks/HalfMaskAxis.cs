namespace FlowOod.Masks;

/// <summary>Which spatial axis a <see cref="HalfMask"/> cuts an image <c>[C, H, W]</c> along.</summary>
public enum HalfMaskAxis
{
    /// <summary>Top rows versus bottom rows (a horizontal cut; Kirichenko et al. 2020's <c>MaskHorizontal</c>).</summary>
    Horizontal,

    /// <summary>Left columns versus right columns (a vertical cut; Kirichenko et al. 2020's <c>MaskVertical</c>).</summary>
    Vertical,
}
