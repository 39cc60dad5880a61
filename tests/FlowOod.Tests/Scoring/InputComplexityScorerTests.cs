using System;
using System.Linq;
using FlowOod.Models;
using FlowOod.Scoring;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Scoring;

[Collection(TorchGlobalStateDefinition.Name)]
public sealed class InputComplexityScorerTests
{
    [Theory]
    [InlineData(typeof(PngCompressor), 256)]
    [InlineData(typeof(DeflateCompressor), 256)]
    [InlineData(typeof(PngCompressor), 3)]
    public void Score_EqualsFlowNllInBitsMinusCompressedBits(Type compressorType, int chunkSize)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(7, ScalarType.Float64);
        var compressor = (ICompressor)Activator.CreateInstance(compressorType)!;

        var scores = new InputComplexityScorer(flow, compressor, chunkSize).Score(batch);

        double[] logProb;
        using (no_grad())
        {
            logProb = flow.LogProb(batch).data<double>().ToArray();
        }

        var bytes = batch.Times(255).round().to(ScalarType.Byte).data<byte>().ToArray();
        scores.Should().HaveCount(7);
        for (int i = 0; i < 7; i++)
        {
            // −log₂ P(x) = (D·ln 256 − log p(x)) / ln 2 bits for the whole image, D = 64.
            var nllBits = ((64 * Math.Log(256)) - logProb[i]) / Math.Log(2);
            var lengthBits = compressor.CompressedBits(bytes.AsSpan(i * 64, 64), 1, 8, 8);
            scores[i].Should().BeApproximately(nllBits - lengthBits, 1e-9 * Math.Abs(nllBits), $"example {i}");
        }
    }

    [Fact]
    public void Score_ConstantImage_PaysForItsLowComplexity()
    {
        // The same flow, two images: a constant one compresses far better, so S = NLL_bits − L moves up relative to
        // the NLL by exactly the difference in compressed length.
        using var flow = ScoringFlows.CreatePrepared(noise: false, ScalarType.Float64);
        using var scope = NewDisposeScope();
        var batch = cat([TestScalars.Full([1, 1, 8, 8], 128 / 255.0, ScalarType.Float64), ScoringFlows.EightBitImages(1, ScalarType.Float64)]);
        var scorer = new InputComplexityScorer(flow);

        var lengths = scorer.CompressedBits(batch);
        var scores = scorer.Score(batch);
        var nllBits = new NegativeLogLikelihoodScorer(flow).Score(batch).Select(b => b * 64).ToArray();

        lengths[0].Should().BeLessThan(lengths[1] - 400, "a constant image compresses far better than noise (PNG's ~57 bytes of framing aside)");
        (scores[0] - scores[1]).Should().BeApproximately(nllBits[0] - nllBits[1] - (lengths[0] - lengths[1]), 1e-6);
    }

    [Fact]
    public void Score_SameBatchTwice_IsDeterministic()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(5, ScalarType.Float32);
        var scorer = new InputComplexityScorer(flow);

        scorer.Score(batch).Should().Equal(scorer.Score(batch));
        scorer.CompressedBits(batch).Should().Equal(scorer.CompressedBits(batch));
    }

    [Fact]
    public void Properties_RebuildAnEquivalentScorer()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(4, ScalarType.Float32);
        var scorer = new InputComplexityScorer(flow, new DeflateCompressor(), chunkSize: 2, ScoringNoise.Seeded(3));

        var rebuilt = new InputComplexityScorer(scorer.Flow, scorer.Compressor, scorer.ChunkSize, scorer.Noise);

        rebuilt.Score(batch).Should().Equal(scorer.Score(batch));
        scorer.Name.Should().Be("Input complexity (bits/image, Deflate)");
        new InputComplexityScorer(flow).Compressor.Should().BeOfType<PngCompressor>();
        new InputComplexityScorer(flow).Noise.Should().Be(ScoringNoise.BinCentres);
    }

    [Fact]
    public void Score_ValuesOffThe8BitGrid_ThrowsArgumentException()
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = ScoringFlows.EightBitImages(3, ScalarType.Float32);
        batch[2, 0, 4, 4] = (float)(100.4 / 255);
        var scorer = new InputComplexityScorer(flow);

        scorer.Invoking(s => s.Score(batch)).Should().Throw<ArgumentException>().WithMessage("*8-bit*k/255*");
        scorer.Invoking(s => s.CompressedBits(batch)).Should().Throw<ArgumentException>().WithMessage("*8-bit*");
    }

    [Theory]
    [InlineData("empty", "*empty*")]
    [InlineData("wrong shape", "*shape [N, 1, 8, 8]*")]
    [InlineData("NaN", "*NaN*")]
    [InlineData("above 1", "*[0, 1]*")]
    public void Score_BadInput_ThrowsArgumentException(string problem, string message)
    {
        using var flow = ScoringFlows.CreatePrepared(noise: true, ScalarType.Float32);
        using var scope = NewDisposeScope();
        var batch = problem switch
        {
            "empty" => zeros(0, 1, 8, 8),
            "wrong shape" => zeros(2, 3, 8, 8),
            "NaN" => TestScalars.Full([2, 1, 8, 8], float.NaN),
            _ => TestScalars.Full([2, 1, 8, 8], 2f),
        };
        var scorer = new InputComplexityScorer(flow);

        scorer.Invoking(s => s.Score(batch)).Should().Throw<ArgumentException>().WithMessage(message);
        scorer.Invoking(s => s.CompressedBits(batch)).Should().Throw<ArgumentException>().WithMessage(message);
    }

    [Fact]
    public void Constructor_FlowOnContinuousData_ThrowsArgumentException()
    {
        using var flow = new NormalizingFlow(new FlowOod.Bijectors.ActNorm(1), [1, 8, 8], inputRange: (0.0, 1.0));

        var act = () => new InputComplexityScorer(flow);

        act.Should().Throw<ArgumentException>().WithMessage("*DiscretizationLevels 256*none*");
    }

    [Fact]
    public void Constructor_FlowOnVectors_ThrowsArgumentException()
    {
        using var flow = new NormalizingFlow(new FlowOod.Bijectors.ActNorm(1), [64], inputRange: (0.0, 1.0), discretizationLevels: 256);

        var act = () => new InputComplexityScorer(flow);

        act.Should().Throw<ArgumentException>().WithMessage("*[C, H, W]*[64]*");
    }

    [Fact]
    public void Constructor_FlowWithoutUnitInputRange_ThrowsArgumentException()
    {
        using var flow = new NormalizingFlow(new FlowOod.Bijectors.ActNorm(1), [1, 8, 8], discretizationLevels: 256);

        var act = () => new InputComplexityScorer(flow);

        act.Should().Throw<ArgumentException>().WithMessage("*[0, 1]*unbounded*");
    }

}
