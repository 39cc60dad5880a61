namespace FlowOod.Masks;

/// <summary>
/// A spatial quadrant of an image <c>[C, H, W]</c>, all channels × H/2 rows × W/2 columns, numbered clockwise from the
/// top left as in Kirichenko et al. (2020).
/// </summary>
public enum Quadrant
{
    /// <summary>Quadrant 0: rows [0, H/2), columns [0, W/2).</summary>
    TopLeft = 0,

    /// <summary>Quadrant 1: rows [0, H/2), columns [W/2, W).</summary>
    TopRight = 1,

    /// <summary>Quadrant 2: rows [H/2, H), columns [W/2, W).</summary>
    BottomRight = 2,

    /// <summary>Quadrant 3: rows [H/2, H), columns [0, W/2).</summary>
    BottomLeft = 3,
}
