using System;
using System.Collections.Generic;
using System.Linq;
using FlowOod.Components;
using static TorchSharp.torch;

namespace FlowOod.Scoring;

/// <summary>
/// Combines several OOD scores by how typical their values are together among held-out in-distribution data (DoSE
/// applied to scores): score(x) = −Σ_j log KDE_j(s_j(x)), with s_j the member scorers. Higher = more OOD.
/// </summary>
/// <remarks>
/// <para>Why: each score misses something. The likelihood ranks smooth images (MNIST digits) as <i>more</i>
/// in-distribution than the training data and noise as far less; the likelihood ratio against a local model ranks MNIST
/// correctly but noise, which both models find equally unlikely, as typical. An in-distribution input has every score
/// inside its usual range, so a low density of any one of them, in either direction, flags the input; no member needs
/// its own direction or threshold.</para>
/// <para>What is fitted on what: <see cref="Fit"/> scores held-out in-distribution images (not the flows' training
/// images) with every member and keeps, per member, the sorted scores (at most <c>maxSamplesPerScore</c> evenly spaced
/// order statistics). Each member's scores are standardised and get a one-dimensional Gaussian KDE with Silverman's
/// bandwidth, exactly as <see cref="DoseScorer"/> treats its statistics (its remarks give the formulas); the members are
/// treated as independent. Nothing is fitted on OOD data.</para>
/// <para>Cost: one call of every member, plus J·m kernel evaluations per example (J members, m kept samples). Safe from
/// any number of threads when every member is.</para>
/// </remarks>
[ComponentName("ScoreDensity")]
public sealed class ScoreDensityScorer : IOodScorer, IComponent<ScoreDensityScorer>
{
    /// <summary>The default cap on the fitted samples kept per member.</summary>
    public const int DefaultMaxSamplesPerScore = 2000;

    /// <summary>The most members a scorer combines (and a stored one may hold).</summary>
    public const int MaxMembers = 64;

    private readonly IOodScorer[] members;
    private readonly double[][] fitted;
    private readonly IndependentKde kde;
    private bool disposed;

    /// <summary>Creates the scorer from its state (e.g. when reloading a saved scorer).</summary>
    /// <param name="members">The scores to combine, 1 … <see cref="MaxMembers"/> distinct scorers.</param>
    /// <param name="fittedScores">Per member (in order), its scores of held-out in-distribution data: one list per
    /// member, all of the same length m ≥ 2, all finite.</param>
    /// <param name="ownsMembers">Whether disposing this scorer disposes the members (default false: they stay the caller's).</param>
    /// <exception cref="ArgumentException">No members, too many, a null or repeated member, or fitted scores that do not
    /// match the members (count, lengths, finiteness).</exception>
    public ScoreDensityScorer(IReadOnlyList<IOodScorer> members, IReadOnlyList<IReadOnlyList<double>> fittedScores, bool ownsMembers = false)
    {
        this.members = CheckMembers(members);
        ArgumentNullException.ThrowIfNull(fittedScores);
        if (fittedScores.Count != this.members.Length)
        {
            throw new ArgumentException(
                $"There are {this.members.Length} members but fitted scores of {fittedScores.Count}; give one list per member.", nameof(fittedScores));
        }

        kde = new IndependentKde(fittedScores, nameof(fittedScores));
        fitted = fittedScores.Select(s => s.ToArray()).ToArray();
        OwnsMembers = ownsMembers;
    }

    /// <summary>The fitted density (for the ONNX export).</summary>
    internal IndependentKde Kde => kde;

    /// <summary>The combined scorers, in order.</summary>
    public IReadOnlyList<IOodScorer> Members => members;

    /// <summary>Per member, the held-out in-distribution scores kept (sorted).</summary>
    public IReadOnlyList<IReadOnlyList<double>> FittedScores => fitted;

    /// <summary>Whether disposing this scorer disposes the members.</summary>
    public bool OwnsMembers { get; }

    /// <inheritdoc/>
    public string Name => $"score density of [{string.Join("; ", members.Select(m => m.Name))}]";

    /// <summary>
    /// Scores <paramref name="heldOutInDistribution"/> with every member and fits the combined scorer to those scores.
    /// </summary>
    /// <param name="members">The scores to combine (each already fitted, if it needs fitting).</param>
    /// <param name="heldOutInDistribution">In-distribution examples none of the members was trained or fitted on, at least 2.</param>
    /// <param name="maxSamplesPerScore">Samples kept per member, ≥ 2 (default 2,000): the kernel cost per scored example.</param>
    /// <param name="ownsMembers">Whether the scorer disposes the members.</param>
    /// <returns>The fitted scorer.</returns>
    /// <exception cref="ArgumentException">The members are invalid (see the constructor), or fewer than 2 examples.</exception>
    /// <exception cref="InvalidOperationException">A member gave a held-out example a score that is not finite.</exception>
    public static ScoreDensityScorer Fit(
        IReadOnlyList<IOodScorer> members, Tensor heldOutInDistribution, int maxSamplesPerScore = DefaultMaxSamplesPerScore, bool ownsMembers = false)
    {
        var checkedMembers = CheckMembers(members);
        ArgumentNullException.ThrowIfNull(heldOutInDistribution);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamplesPerScore, 2);
        var rows = heldOutInDistribution.dim() == 0 ? 0 : heldOutInDistribution.size(0);
        if (rows < 2)
        {
            throw new ArgumentException(
                $"Fitting needs at least 2 held-out in-distribution examples, got shape {Shapes.Format(heldOutInDistribution.Sizes())}.", nameof(heldOutInDistribution));
        }

        var rowMajor = new double[rows * checkedMembers.Length];
        for (int j = 0; j < checkedMembers.Length; j++)
        {
            var scores = checkedMembers[j].Score(heldOutInDistribution);
            for (int n = 0; n < rows; n++)
            {
                if (!double.IsFinite(scores[n]))
                {
                    throw new InvalidOperationException(
                        $"{checkedMembers[j].Name} gave held-out example {n} the score {scores[n]}; a score density needs finite scores.");
                }

                rowMajor[(n * checkedMembers.Length) + j] = scores[n];
            }
        }

        var kept = IndependentKde.Keep(rowMajor, (int)rows, checkedMembers.Length, maxSamplesPerScore);
        return new ScoreDensityScorer(checkedMembers, kept, ownsMembers);
    }

    /// <summary>score(x) = −Σ_j log KDE_j(s_j(x)) per example; higher = more OOD.</summary>
    /// <param name="batch">Examples every member accepts.</param>
    /// <returns>One finite score per example.</returns>
    /// <exception cref="ArgumentException">A member refuses the batch.</exception>
    /// <exception cref="InvalidOperationException">A member's score came out NaN or infinite.</exception>
    public double[] Score(Tensor batch)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        var perMember = new double[members.Length][];
        for (int j = 0; j < members.Length; j++)
        {
            perMember[j] = FlowEvaluation.CheckFinite(members[j].Score(batch), members[j].Name);
        }

        var result = new double[perMember[0].Length];
        Span<double> row = stackalloc double[members.Length];
        for (int n = 0; n < result.Length; n++)
        {
            for (int j = 0; j < members.Length; j++)
            {
                row[j] = perMember[j][n];
            }

            result[n] = kde.NegativeLogDensity(row);
        }

        return result;
    }

    /// <summary>Writes every member, then the fitted scores.</summary>
    /// <param name="writer">Receives the fields.</param>
    public void Write(ComponentWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteInt("members", members.Length);
        for (int j = 0; j < members.Length; j++)
        {
            writer.WriteComponent(MemberField(j), members[j]);
        }

        writer.WriteInt("samplesPerScore", fitted[0].Length);
        writer.WriteDoubles("samples", fitted.SelectMany(s => s).ToArray());
    }

    /// <summary>Rebuilds a saved scorer; it owns the members it reads.</summary>
    /// <param name="reader">The stored fields.</param>
    /// <returns>The scorer.</returns>
    /// <exception cref="ComponentFormatException">A field is missing or out of range.</exception>
    public static ScoreDensityScorer Read(ComponentReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var count = reader.ReadInt("members", 1, MaxMembers);
        var perScore = reader.ReadInt("samplesPerScore", 2, ComponentLimits.MaxCount / count);
        var samples = reader.ReadDoubles("samples", count * perScore);
        var split = Enumerable.Range(0, count).Select(j => samples.AsSpan(j * perScore, perScore).ToArray()).ToArray();
        var read = new List<IOodScorer>(count);
        try
        {
            for (int j = 0; j < count; j++)
            {
                read.Add(reader.ReadComponent<IOodScorer>(MemberField(j)));
            }

            return new ScoreDensityScorer(read, split, ownsMembers: true);
        }
        catch
        {
            read.ForEach(m => m.Dispose());
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        if (OwnsMembers)
        {
            foreach (var member in members)
            {
                member.Dispose();
            }
        }
    }

    private static string MemberField(int index) => "member" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static IOodScorer[] CheckMembers(IReadOnlyList<IOodScorer> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (members.Count == 0 || members.Count > MaxMembers)
        {
            throw new ArgumentException($"A score density combines 1 to {MaxMembers} scorers; got {members.Count}.", nameof(members));
        }

        if (members.Any(m => m is null))
        {
            throw new ArgumentException("A member scorer is null.", nameof(members));
        }

        if (members.Distinct(ReferenceEqualityComparer.Instance).Count() != members.Count)
        {
            throw new ArgumentException("The same scorer instance is a member twice; each member must be a distinct scorer.", nameof(members));
        }

        return members.ToArray();
    }
}
