namespace FlowOod.Analysis;

/// <summary>
/// How well one coupling layer's shift t predicts the entries it transforms, over an image set (see
/// <see cref="CoAdaptation.Measure"/> for the definition).
/// </summary>
/// <param name="Name">The display name, e.g. "coupling 2 (scale 1)".</param>
/// <param name="Number">1-based position among the flow's coupling layers, in forward order.</param>
/// <param name="Scale">1-based scale (1 + the factor-outs the layer sits inside).</param>
/// <param name="RSquared">R² = 1 − <paramref name="ResidualMeanSquare"/> / <paramref name="Variance"/>: 1 when
/// t = −x_change exactly, ≈ 0 when t predicts no better than the set's mean of each entry, negative when worse; NaN when
/// the variance is 0.</param>
/// <param name="ResidualMeanSquare">E[(x + t)²] over the transformed entries of every image.</param>
/// <param name="Variance">E[(x − x̄)²] over the same entries, x̄ the set's mean of each entry.</param>
/// <param name="TransformedEntries">Entries the layer transforms per image.</param>
/// <param name="Images">Images in the set.</param>
public sealed record CouplingPrediction(
    string Name, int Number, int Scale, double RSquared, double ResidualMeanSquare, double Variance, long TransformedEntries, long Images);
