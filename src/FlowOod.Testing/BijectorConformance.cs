using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Bijectors;
using FlowOod.Masks;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Testing;

/// <summary>
/// The conformance checks of the <see cref="Bijector"/> contract, framework-neutral: each check throws a
/// <see cref="ConformanceException"/> naming the case, the check and the measured error, and returns normally when the
/// bijector conforms. <see cref="Verify"/> runs them all and reports every failure at once.
/// </summary>
/// <remarks>
/// Every check creates its own prepared float64 bijector (<see cref="BijectorCase.CreatePrepared"/>) and disposes it,
/// and draws its inputs and latents from a seeded generator of its own; the kit never seeds or changes torch's global
/// generator, so checks may run beside other work. (Your <see cref="BijectorCase.Create"/> may still draw its initial
/// weights from the global generator.)
/// </remarks>
public static class BijectorConformance
{
    private const long Batch = 5;
    private const ulong InputSeed = 977;

    // The dequantization noise of every Forward of a case that draws noise: keyed by each input's values, so the same
    // input gets the same noise in every call and whatever its batch, and no check draws from torch's global generator.
    // Deterministic cases run with their own setting (a noise override would switch on noise a layer has turned off).
    private static readonly ScoringNoise KitNoise = ScoringNoise.Seeded(InputSeed);
    private static readonly ScoringNoise OtherNoise = ScoringNoise.Seeded(InputSeed + 1);
    private static readonly bool[] Modes = [false, true];

    /// <summary>The checks <see cref="Verify"/> runs, by name.</summary>
    public static IReadOnlyList<(string Name, Action<BijectorCase, ConformanceTolerances> Check)> Checks { get; } =
    [
        (nameof(ForwardShapesAndFinite), ForwardShapesAndFinite),
        (nameof(InverseShapesAndFinite), InverseShapesAndFinite),
        (nameof(InverseOfForwardRecoversInput), InverseOfForwardRecoversInput),
        (nameof(ForwardOfInverseRecoversLatent), ForwardOfInverseRecoversLatent),
        (nameof(LogDetIsAntisymmetric), LogDetIsAntisymmetric),
        (nameof(LogDetMatchesJacobian), LogDetMatchesJacobian),
        (nameof(GradientsReachEveryParameter), GradientsReachEveryParameter),
        (nameof(PreparedBijectorIsNotIdentity), PreparedBijectorIsNotIdentity),
        (nameof(ForwardIsDeterministic), ForwardIsDeterministic),
        (nameof(BatchInvariant), BatchInvariant),
        (nameof(SaveLoadGivesIdenticalOutputs), SaveLoadGivesIdenticalOutputs),
        (nameof(MaskPolarityRespected), MaskPolarityRespected),
        (nameof(NoLeakedTensors), NoLeakedTensors),
    ];

    /// <summary>Runs every check and throws one <see cref="ConformanceException"/> listing all failures.</summary>
    /// <exception cref="ConformanceException">At least one check failed.</exception>
    public static void Verify(BijectorCase testCase, ConformanceTolerances? tolerances = null)
    {
        ArgumentNullException.ThrowIfNull(testCase);
        var failures = new List<string>();
        foreach (var (name, check) in Checks)
        {
            try
            {
                check(testCase, tolerances ?? ConformanceTolerances.Default);
            }
            catch (ConformanceException e)
            {
                failures.Add($"{name}: {e.Message}");
            }
        }

        if (failures.Count > 0)
        {
            throw new ConformanceException($"{testCase.Name} failed {failures.Count} of {Checks.Count} checks:\n  " + string.Join("\n  ", failures));
        }
    }

    /// <summary>Forward gives a finite output of the expected shape and dtype, and a finite LogDet of shape [N].</summary>
    public static void ForwardShapesAndFinite(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var (output, logDet) = Forward(testCase, bijector, testCase.SampleInput(Batch, generator));
        TensorAssert.Shape(output, TensorAssert.Batched(Batch, testCase.OutputEventShape), "Forward output");
        TensorAssert.That(output.dtype == ScalarType.Float64, $"Forward output dtype is {output.dtype}, expected the input's Float64.");
        TensorAssert.Finite(output, "Forward output");
        TensorAssert.Shape(logDet, [Batch], "Forward LogDet");
        TensorAssert.Finite(logDet, "Forward LogDet");
    });

    /// <summary>Inverse of any latent gives a finite output of the input shape and a finite LogDet of shape [N].</summary>
    public static void InverseShapesAndFinite(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var (output, logDet) = bijector.Inverse(randn(TensorAssert.Batched(Batch, testCase.OutputEventShape), dtype: ScalarType.Float64, generator: generator));
        TensorAssert.Shape(output, TensorAssert.Batched(Batch, testCase.EventShape), "Inverse output");
        TensorAssert.Finite(output, "Inverse output");
        TensorAssert.Shape(logDet, [Batch], "Inverse LogDet");
        TensorAssert.Finite(logDet, "Inverse LogDet");
    });

    /// <summary>Inverse(Forward(x)) ≈ x (exactly, for cases that quantize).</summary>
    public static void InverseOfForwardRecoversInput(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch, generator);
        var (latent, _) = Forward(testCase, bijector, input);
        var (recovered, _) = bijector.Inverse(latent);
        if (testCase.InverseIsExact)
        {
            TensorAssert.Exactly(recovered, input, "Inverse(Forward(x))");
        }
        else
        {
            TensorAssert.Close(recovered, input, tolerances.RoundTripRelative, tolerances.RoundTripAbsolute, "Inverse(Forward(x))");
        }
    });

    /// <summary>Forward(Inverse(y)) ≈ y, for cases whose <see cref="BijectorCase.Latent"/> allows it.</summary>
    public static void ForwardOfInverseRecoversLatent(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var latent = testCase.SampleLatent(bijector, Batch, generator);
        if (latent is null)
        {
            TensorAssert.That(!string.IsNullOrWhiteSpace(testCase.Note), "A case without a latent round trip must say why in its Note.");
            return;
        }

        var (data, _) = bijector.Inverse(latent);
        var (recovered, _) = Forward(testCase, bijector, data);
        TensorAssert.Close(recovered, latent, tolerances.RoundTripRelative, tolerances.RoundTripAbsolute, "Forward(Inverse(y))");
    });

    /// <summary>Inverse's LogDet at Forward's output is the negated Forward LogDet.</summary>
    public static void LogDetIsAntisymmetric(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var (latent, forwardLogDet) = Forward(testCase, bijector, testCase.SampleInput(Batch, generator));
        var (_, inverseLogDet) = bijector.Inverse(latent);
        TensorAssert.Shape(inverseLogDet, [Batch], "Inverse LogDet");
        TensorAssert.Close(forwardLogDet.add(inverseLogDet, KitScalars.One), zeros(Batch, dtype: ScalarType.Float64), 0, tolerances.LogDetSumAbsolute, "Forward LogDet + Inverse LogDet");
    });

    /// <summary>Forward's LogDet of one example equals log|det J| of the autograd Jacobian of the flattened map.</summary>
    public static void LogDetMatchesJacobian(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        var (jacobian, logDet) = JacobianAndLogDet(bijector, testCase.SampleInput(1, generator), testCase.Deterministic ? null : KitNoise);
        var (sign, logAbsDet) = linalg.slogdet(jacobian);
        TensorAssert.That(Math.Abs(sign.ReadDouble()) == 1.0, "The autograd Jacobian is singular; a bijector's must not be.");
        TensorAssert.Close(logDet.reshape(1), logAbsDet.reshape(1), tolerances.JacobianRelative, tolerances.JacobianAbsolute, "LogDet vs log|det J|");
    });

    /// <summary>A training-mode Forward followed by backward of Σ output² + Σ LogDet gives every parameter, and the
    /// input, a non-zero gradient (catches unregistered submodules and detached paths). Parameters with no elements
    /// have nothing a gradient could reach and are not required to get one.</summary>
    public static void GradientsReachEveryParameter(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        bijector.train();
        bijector.zero_grad();
        var input = testCase.SampleInput(8, generator).requires_grad_(true);
        var (output, logDet) = Forward(testCase, bijector, input);
        output.mul(output).sum().add(logDet.sum(), KitScalars.One).backward();
        var missing = bijector.named_parameters()
            .Where(p => p.parameter.numel() > 0 && !HasNonZeroGradient(p.parameter))
            .Select(p => p.name)
            .ToList();
        if (!HasNonZeroGradient(input))
        {
            missing.Add("(input)");
        }

        TensorAssert.That(missing.Count == 0, $"No gradient reached: {string.Join(", ", missing)}.");
    });

    /// <summary>Guards the other checks against vacuity: a prepared bijector with parameters moves its input and has
    /// non-zero LogDet (a fresh coupling layer is the identity), and BatchNorm running statistics have moved.</summary>
    public static void PreparedBijectorIsNotIdentity(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        if (!bijector.parameters().Any())
        {
            return;
        }

        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch, generator);
        var (output, logDet) = Forward(testCase, bijector, input);
        if (output.shape.SequenceEqual(input.shape))
        {
            TensorAssert.That(output.sub(input).abs().max().ReadDouble() > 1e-3, "The prepared bijector does not move its input: the other checks would pass vacuously.");
        }

        foreach (var (name, buffer) in bijector.named_buffers())
        {
            if (name.EndsWith("running_var", StringComparison.Ordinal))
            {
                TensorAssert.That(buffer.sub(KitScalars.One).abs().max().ReadDouble() > 1e-3, $"{name} did not move during warm-up.");
            }
        }
    });

    /// <summary>Two eval-mode Forwards of the same input agree bit for bit, unless the case draws noise (then they differ).</summary>
    public static void ForwardIsDeterministic(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch, generator);
        // A case declared deterministic runs with its own noise setting (undeclared noise must show); a noisy one gets
        // two different seeded noises, so the difference is the noise's and no global generator is drawn from.
        var (first, _) = Forward(testCase, bijector, input);
        var (second, _) = testCase.Deterministic ? bijector.Forward(input) : bijector.Forward(input, OtherNoise);
        if (testCase.Deterministic)
        {
            TensorAssert.Exactly(second, first, "A second Forward of the same input in eval mode");
        }
        else
        {
            TensorAssert.That(!equal(second, first).all().ReadBoolean(), "A case marked non-deterministic gave identical outputs twice.");
        }
    });

    /// <summary>In eval mode, Forward of a batch equals Forward of each example alone (outputs and LogDet). Cases that
    /// draw noise are skipped: their noise depends on the batch layout.</summary>
    public static void BatchInvariant(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        if (!testCase.Deterministic)
        {
            return;
        }

        using var noGrad = no_grad();
        var input = testCase.SampleInput(Batch, generator);
        var (output, logDet) = Forward(testCase, bijector, input);
        for (long i = 0; i < Batch; i++)
        {
            var (single, singleLogDet) = Forward(testCase, bijector, input.narrow(0, i, 1));
            TensorAssert.Close(single, output.narrow(0, i, 1), tolerances.BatchInvarianceRelative, 0, $"Forward of example {i} alone vs in the batch");

            TensorAssert.Close(singleLogDet, logDet.narrow(0, i, 1), tolerances.BatchInvarianceRelative, tolerances.JacobianAbsolute, $"LogDet of example {i} alone vs in the batch");
        }
    });

    /// <summary>The state dict saved to a file and loaded into a fresh bijector gives bit-identical outputs.</summary>
    public static void SaveLoadGivesIdenticalOutputs(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"flowood-conformance-{Guid.NewGuid():N}.bin");
        try
        {
            bijector.save(path);
            using var fresh = testCase.Create();
            fresh.to(ScalarType.Float64);
            fresh.load(path);
            fresh.eval();
            using var noGrad = no_grad();
            var input = testCase.SampleInput(Batch, generator);
            var (expected, expectedLogDet) = Forward(testCase, bijector, input);
            var (actual, actualLogDet) = Forward(testCase, fresh, input);
            TensorAssert.Exactly(actual, expected, "Forward output after save → load");
            TensorAssert.Exactly(actualLogDet, expectedLogDet, "Forward LogDet after save → load");
        }
        finally
        {
            File.Delete(path);
        }
    });

    /// <summary>
    /// For coupling layers (a public <c>Mask</c> property of type <see cref="CouplingMask"/>): entries outside the
    /// transformed set (<c>true</c> = conditioning half, and entries in neither set) are copied bit for bit in both
    /// directions, and every transformed entry changes.
    /// </summary>
    public static void MaskPolarityRespected(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        if (bijector.GetType().GetProperty("Mask")?.GetValue(bijector) is not CouplingMask mask)
        {
            return;
        }

        using var noGrad = no_grad();
        var shape = mask.EventShape.ToArray();
        var kept = tensor(mask.Transform.ToArray().Select(t => !t).ToArray(), dtype: ScalarType.Bool).reshape(shape).unsqueeze(0).expand(TensorAssert.Batched(Batch, shape));
        var input = testCase.SampleInput(Batch, generator);
        var (output, _) = Forward(testCase, bijector, input);
        TensorAssert.Exactly(output.masked_select(kept), input.masked_select(kept), "Forward: entries outside the transformed set");
        var changed = output.masked_select(kept.logical_not()).ne(input.masked_select(kept.logical_not()));
        TensorAssert.That(changed.all().ReadBoolean(), "Forward: some transformed entries did not change.");
        var latent = randn(TensorAssert.Batched(Batch, shape), dtype: ScalarType.Float64, generator: generator);
        var (back, _) = bijector.Inverse(latent);
        TensorAssert.Exactly(back.masked_select(kept), latent.masked_select(kept), "Inverse: entries outside the transformed set");
    });

    /// <summary>Forward and Inverse (eval and train mode) free every temporary: once their outputs are disposed the
    /// thread's live-tensor count is back at its baseline.</summary>
    public static void NoLeakedTensors(BijectorCase testCase, ConformanceTolerances tolerances) => Run(testCase, (bijector, generator) =>
    {
        foreach (var train in Modes)
        {
            bijector.train(train);
            var input = testCase.SampleInput(4, generator);
            DisposeScopeManager.Statistics.Reset();
            var baseline = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            var (latent, forwardLogDet) = Forward(testCase, bijector, input);
            var (recovered, inverseLogDet) = bijector.Inverse(latent);
            latent.Dispose();
            forwardLogDet.Dispose();
            recovered.Dispose();
            inverseLogDet.Dispose();
            var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            TensorAssert.That(live == baseline, $"{live - baseline} tensors leaked by Forward + Inverse in {(train ? "train" : "eval")} mode ({DisposeScopeManager.Statistics}).");
        }
    });

    /// <summary>
    /// The Jacobian ∂y/∂x <c>[D, D]</c> of the flattened map of one example x (<c>[1, event...]</c>) and the LogDet
    /// <c>[1]</c> of the same Forward call, built row by row with autograd.
    /// </summary>
    /// <param name="bijector">The bijector.</param>
    /// <param name="example">One example <c>[1, event...]</c>.</param>
    /// <param name="noise">The dequantization noise of the Forward call, or null for the bijector's own setting.</param>
    public static (Tensor Jacobian, Tensor LogDet) JacobianAndLogDet(Bijector bijector, Tensor example, ScoringNoise? noise = null)
    {
        ArgumentNullException.ThrowIfNull(bijector);
        ArgumentNullException.ThrowIfNull(example);
        TensorAssert.That(example.shape[0] == 1, "The Jacobian check runs on a single example.");
        using var scope = NewDisposeScope();
        using var input = example.detach().requires_grad_(true);
        var (output, logDet) = noise is null ? bijector.Forward(input) : bijector.Forward(input, noise);
        var flat = output.flatten();
        var count = flat.shape[0];
        TensorAssert.That(count == input.numel(), $"Forward changed the element count from {input.numel()} to {count}.");
        var rows = new Tensor[count];
        for (long i = 0; i < count; i++)
        {
            rows[i] = autograd.grad([flat[i]], [input], retain_graph: i < count - 1)[0].flatten();
        }

        return scope.MoveToOuter(stack(rows), logDet.detach());
    }

    // Each check gets a prepared bijector and a generator of its own for inputs and latents, seeded so a run repeats.
    private static void Run(BijectorCase testCase, Action<Bijector, Generator> check)
    {
        ArgumentNullException.ThrowIfNull(testCase);
        using var bijector = testCase.CreatePrepared();
        using var generator = new Generator(InputSeed);
        using var scope = NewDisposeScope();
        try
        {
            check(bijector, generator);
        }
        catch (ConformanceException e)
        {
            throw new ConformanceException($"[{testCase.Name}] {e.Message}");
        }
    }


    private static (Tensor Output, Tensor LogDet) Forward(BijectorCase testCase, Bijector bijector, Tensor input) =>
        testCase.Deterministic ? bijector.Forward(input) : bijector.Forward(input, KitNoise);

    private static bool HasNonZeroGradient(Tensor tensor)
    {
        using var gradient = tensor.grad;
        return gradient is not null && gradient.abs().max().ReadDouble() > 0.0;
    }
}
