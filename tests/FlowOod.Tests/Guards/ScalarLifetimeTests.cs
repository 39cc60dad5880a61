using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Guards;

// The rule of docs/design.md ("Scalars"), checked on the compiled IL of every FlowOod assembly: no code of ours calls a
// TorchSharp method that makes a temporary Scalar it does not dispose (a number overload, an operator, add(Tensor)'s
// implicit alpha, functional.softplus, a module whose forward does), and a method of ours that makes a Scalar disposes
// it (`using`) unless it is a static constructor filling a cache. TorchSharp passes only a Scalar's handle to native
// code, so a temporary's finalizer can free it during the call (c10 "Expected false to be true", wrong values, SIGSEGV).
public sealed class ScalarLifetimeTests
{
    // A `using` compiles to a call of IDisposable.Dispose; an explicit call names the Scalar's own.
    private static readonly string[] Disposals = ["TorchSharp.Scalar::Dispose()", "System.IDisposable::Dispose()"];

    private static readonly Lazy<(HashSet<string> Creators, HashSet<string> Unsafe)> Analysis = new(() =>
    {
        var torchSharp = IlCallGraph.Read(typeof(torch).Assembly.Location);
        var creators = Creators(torchSharp);
        return (creators, UnsafeTorchSharpMethods(torchSharp, creators));
    });

    public static TheoryData<string, string, string> Assemblies => new()
    {
        { "src", "FlowOod", "FlowOod.dll" },
        { "src", "FlowOod.Testing", "FlowOod.Testing.dll" },
        { "src", "FlowOod.AspNetCore", "FlowOod.AspNetCore.dll" },
        { "src", "FlowOod.OnnxRuntime", "FlowOod.OnnxRuntime.dll" },
        { "src", "FlowOod.Cli", "FlowOod.Cli.dll" },
        { "samples", "FlowOod.Samples.FashionMnist", "FlowOod.Samples.FashionMnist.dll" },
        { "samples", "FlowOod.Samples.GateService", "FlowOod.Samples.GateService.dll" },
        { "samples", "FlowOod.Samples.CustomCoupling", "FlowOod.Samples.CustomCoupling.dll" },
        { "tests", "FlowOod.Tests", "FlowOod.Tests.dll" },
        { "tests", "FlowOod.AspNetCore.Tests", "FlowOod.AspNetCore.Tests.dll" },
        { "tests", "FlowOod.OnnxRuntime.Tests", "FlowOod.OnnxRuntime.Tests.dll" },
        { "tests", "FlowOod.Cli.Tests", "FlowOod.Cli.Tests.dll" },
        { "tests", "FlowOod.GateService.Tests", "FlowOod.GateService.Tests.dll" },
    };

    // What the scan of this test assembly leaves out, each for a reason: the specimens below are unsafe on purpose
    // (TheScan_FlagsTemporariesInCompiledCode checks the scan finds them), and one test compares our BatchNorm2dLayer
    // with TorchSharp's own BatchNorm2d, whose training forward makes a temporary (num_batches_tracked.add_(1)); no
    // test code of ours can keep that one alive, and the comparison is the point of the test.
    private static readonly string[] Exempt =
    [
        $": {typeof(Specimens).FullName!.Replace('+', '/')}::",
        $": {typeof(Layers.NoGlobalGeneratorTests).FullName}::{nameof(Layers.NoGlobalGeneratorTests.BatchNorm2dLayer_TrainsAndEvaluatesLikeTorchSharpsModule)}() calls TorchSharp.torch/nn::BatchNorm2d(",
    ];

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void EveryMethod_PassesNativeCodeOnlyScalarsItKeepsAlive(string folder, string project, string file)
    {
        var graph = IlCallGraph.Read(RepositoryPaths.OutputOf(folder, project, file));

        var violations = Violations(graph).Where(v => !Exempt.Any(e => v.Contains(e, StringComparison.Ordinal))).ToArray();

        graph.Methods.Count.Should().BeGreaterThan(20, "the scan must have read the assembly's methods");
        violations.Should().BeEmpty(
            "TorchSharp frees a temporary Scalar in its finalizer, which can run during the native call that reads it; use "
            + "FlowOod's ScalarMath (Plus, Times, ...), a cached Scalar, or `using var s = x.ToScalar()` (docs/design.md, "
            + "\"Scalars\"). Calls found:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheAnalysis_FindsTorchSharpsTemporaries_AndClearsTheCallsThatTakeAScalar()
    {
        Analysis.Value.Creators.Should().Contain(
        [
            "TorchSharp.Scalar::op_Implicit(Double)",
            "TorchSharp.ScalarExtensionMethods::ToScalar(Double)",
            "TorchSharp.torch/Tensor::ToScalar()",
        ]);
        Analysis.Value.Unsafe.Should().Contain(
        [
            "TorchSharp.TensorExtensionMethods::ToDouble(TorchSharp.torch/Tensor)",
            "TorchSharp.TensorExtensionMethods::ToSingle(TorchSharp.torch/Tensor)",
            "TorchSharp.torch/Tensor::add(TorchSharp.torch/Tensor)",
            "TorchSharp.torch/Tensor::op_Addition(TorchSharp.torch/Tensor,TorchSharp.torch/Tensor)",
            "TorchSharp.torch/Tensor::op_Multiply(TorchSharp.torch/Tensor,Double)",
            "TorchSharp.torch/Tensor::square()",
            "TorchSharp.torch/nn/functional::softplus(TorchSharp.torch/Tensor,Double,Double)",
            "TorchSharp.Modules.BatchNorm::forward(TorchSharp.torch/Tensor)",
        ]);
        Analysis.Value.Unsafe.Should().NotContain(
        [
            "TorchSharp.torch/Tensor::item()",
            "TorchSharp.torch/Tensor::add(TorchSharp.torch/Tensor,TorchSharp.Scalar)",
            "TorchSharp.torch/Tensor::mul(TorchSharp.torch/Tensor)",
            "TorchSharp.torch/Tensor::sub(TorchSharp.torch/Tensor)",
            "TorchSharp.torch/Tensor::pow(TorchSharp.Scalar)",
        ]);
    }

    [Fact]
    public void TheScan_FlagsTemporariesInCompiledCode_AndPassesTheSafeForms()
    {
        var graph = IlCallGraph.Read(typeof(ScalarLifetimeTests).Assembly.Location);
        var flagged = Violations(graph).Where(v => v.Contains(nameof(Specimens), StringComparison.Ordinal)).ToArray();

        flagged.Should().HaveCount(6);
        flagged.Should().Contain(v => v.Contains("::AddTensors(", StringComparison.Ordinal) && v.Contains("op_Addition", StringComparison.Ordinal));
        flagged.Should().Contain(v => v.Contains("::ScaleByNumber(", StringComparison.Ordinal));
        flagged.Should().Contain(v => v.Contains("::ImplicitAlpha(", StringComparison.Ordinal));
        flagged.Should().Contain(v => v.Contains("::Softplus(", StringComparison.Ordinal));
        flagged.Should().Contain(v => v.Contains("::ReadBack(", StringComparison.Ordinal) && v.Contains("ToDouble", StringComparison.Ordinal));
        flagged.Should().Contain(v => v.Contains("::TemporaryInsideAScope(", StringComparison.Ordinal) && v.Contains("straight on", StringComparison.Ordinal));
    }

    private static string[] Violations(IlCallGraph graph)
    {
        var (creators, unsafeMethods) = Analysis.Value;
        var found = new List<string>();
        foreach (var method in graph.Methods.Values)
        {
            foreach (var call in method.Calls.Distinct())
            {
                if (unsafeMethods.Contains(call))
                {
                    found.Add($"{graph.AssemblyName}: {method.Name} calls {call}");
                }
            }

            if (method.Calls.FirstOrDefault(creators.Contains) is { } creation
                && !method.Calls.Any(Disposals.Contains) && !method.Name.Contains("::.cctor(", StringComparison.Ordinal))
            {
                found.Add($"{graph.AssemblyName}: {method.Name} makes a Scalar it neither disposes nor caches: {creation}");
            }
            else if (method.ConsumedCalls.FirstOrDefault(creators.Contains) is { } temporary)
            {
                // A `using` stores the Scalar in a local first; one passed straight to the next call is a temporary, even in
                // a method that disposes something else (a dispose scope, another Scalar).
                found.Add($"{graph.AssemblyName}: {method.Name} passes a temporary Scalar straight on: {temporary}");
            }
        }

        return [.. found.Order(StringComparer.Ordinal)];
    }

    // TorchSharp's methods that hand their caller a new Scalar (the conversions, Tensor.ToScalar(), the constructor):
    // the caller owns it and must dispose it.
    private static HashSet<string> Creators(IlCallGraph torchSharp) =>
        torchSharp.Methods.Values
            .Where(m => m.ReturnType == "TorchSharp.Scalar" || m.Name.StartsWith("TorchSharp.Scalar::.ctor(", StringComparison.Ordinal))
            .Select(m => m.Name)
            .Where(n => !n.StartsWith("TorchSharp.Scalar::get_", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);

    // TorchSharp's methods that make a Scalar without disposing or returning it (e.g. Tensor.ToDouble() reads
    // ToScalar().ToDouble(); add(Tensor) passes a new alpha), every method that calls one of those, and (since a module's
    // forward is reached by a virtual call the scan cannot follow) the constructors of modules whose forward is unsafe, so
    // code that builds such a module is flagged.
    private static HashSet<string> UnsafeTorchSharpMethods(IlCallGraph torchSharp, HashSet<string> creators)
    {
        var methods = torchSharp.Methods.Values.Where(m => !creators.Contains(m.Name)).ToArray();
        var result = methods
            .Where(m => m.Calls.Any(creators.Contains) && !m.Calls.Any(Disposals.Contains))
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        var changed = true;
        while (changed)
        {
            var moduleTypes = result.Where(n => n.Contains("::forward(", StringComparison.Ordinal)).Select(n => n[..n.IndexOf("::", StringComparison.Ordinal)]).ToHashSet();
            var added = methods
                .Where(m => !result.Contains(m.Name))
                .Where(m => m.Calls.Any(result.Contains) || (m.Name.Contains("::.ctor(", StringComparison.Ordinal) && moduleTypes.Contains(m.Name[..m.Name.IndexOf("::", StringComparison.Ordinal)])))
                .Select(m => m.Name)
                .ToArray();
            result.UnionWith(added);
            changed = added.Length > 0;
        }

        return result;
    }

    // Compiled into this test assembly for the scan above: six unsafe forms, then the safe ones.
    private static class Specimens
    {
        private static readonly Scalar Cached = 1.ToScalar();

        public static Tensor AddTensors(Tensor a, Tensor b) => a + b;

        public static Tensor ScaleByNumber(Tensor a) => a.mul(2.0);

        public static Tensor ImplicitAlpha(Tensor a, Tensor b) => a.add(b);

        public static Tensor Softplus(Tensor a) => nn.functional.softplus(a);

        public static double ReadBack(Tensor a) => a.ToDouble();

        public static Tensor TemporaryInsideAScope(Tensor a)
        {
            using var scope = NewDisposeScope();
            return scope.MoveToOuter(a.mul(2.0));
        }

        public static double SafeReadBack(Tensor a) => a.item<double>();

        public static Tensor SafeAdd(Tensor a, Tensor b) => a.Plus(b);

        public static Tensor SafeScale(Tensor a)
        {
            using var two = 2.0.ToScalar();
            return a.mul(two);
        }

        public static Tensor SafeCachedForm(Tensor a, Tensor b) => a.add(b, Cached);
    }
}
