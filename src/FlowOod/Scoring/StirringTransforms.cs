namespace FlowOod.Scoring;

/// <summary>
/// The family of pixel permutations T a <see cref="StirringScorer"/> compares log p(x) with log p(T(x)) over
/// (Umapathi et al., IJCAI 2023). Every T moves pixels, never changes a value, and acts on the last two axes of the
/// event (H, W); channels move together.
/// </summary>
public enum StirringTransforms
{
    /// <summary>
    /// "Stirring": the symmetries of the image's rectangle other than the identity. For a square image (H = W) the 7
    /// non-identity elements of the dihedral group of the square: rotations by 90°, 180° and 270°, the horizontal and
    /// the vertical flip, and the transposes about both diagonals. For H ≠ W only the 3 that keep the shape: the
    /// horizontal flip, the vertical flip and the rotation by 180°.
    /// </summary>
    Symmetries,

    /// <summary>
    /// "Shaking": the image is cut into 2 × 2 equal quadrants and T runs over the 9 derangements of the four quadrants
    /// (the permutations that move every quadrant). Needs even H and W; any aspect ratio.
    /// </summary>
    QuadrantDerangements,
}
