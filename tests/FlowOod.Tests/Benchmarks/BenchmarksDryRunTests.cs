using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Benchmarks;

// Runs every [Benchmark] method once, with each [Params] value, between its [GlobalSetup] and [GlobalCleanup]: a
// dry run that keeps the benchmarks compiling and working without BenchmarkDotNet's measurement processes.
[Collection(TorchGlobalStateDefinition.Name)]
public sealed class BenchmarksDryRunTests
{
    public static TheoryData<string> BenchmarkTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in typeof(FlowOod.Benchmarks.CouplingBenchmarks).Assembly.GetTypes().Where(IsBenchmarkClass))
        {
            data.Add(type.FullName!);
        }

        return data;
    }

    [Fact]
    public void BenchmarkAssembly_HasBenchmarks()
    {
        BenchmarkTypes().Should().NotBeEmpty();
    }

    [Theory]
    [MemberData(nameof(BenchmarkTypes))]
    public void Benchmark_EveryMethodAndParameterValue_RunsOnce(string typeName)
    {
        var type = typeof(FlowOod.Benchmarks.CouplingBenchmarks).Assembly.GetType(typeName)!;
        foreach (var assignment in ParameterAssignments(type))
        {
            using var scope = NewDisposeScope();
            var instance = Activator.CreateInstance(type)!;
            foreach (var (property, value) in assignment)
            {
                property.SetValue(instance, value);
            }

            Invoke<GlobalSetupAttribute>(instance);
            try
            {
                foreach (var method in type.GetMethods().Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null))
                {
                    var result = method.Invoke(instance, null);
                    (result as IDisposable)?.Dispose();
                }
            }
            finally
            {
                Invoke<GlobalCleanupAttribute>(instance);
            }
        }
    }

    private static bool IsBenchmarkClass(Type type) =>
        type.IsClass && !type.IsAbstract && type.GetMethods().Any(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null);

    private static void Invoke<TAttribute>(object instance)
        where TAttribute : Attribute
    {
        foreach (var method in instance.GetType().GetMethods().Where(m => m.GetCustomAttribute<TAttribute>() is not null))
        {
            method.Invoke(instance, null);
        }
    }

    // Every combination of the [Params] values (the benchmarks here have few).
    private static IEnumerable<List<(PropertyInfo Property, object? Value)>> ParameterAssignments(Type type)
    {
        IEnumerable<List<(PropertyInfo, object?)>> combinations = [[]];
        foreach (var property in type.GetProperties().Where(p => p.GetCustomAttribute<ParamsAttribute>() is not null))
        {
            var values = property.GetCustomAttribute<ParamsAttribute>()!.Values;
            combinations = combinations.SelectMany(c => values.Select(v => new List<(PropertyInfo, object?)>(c) { (property, v) })).ToList();
        }

        return combinations;
    }
}
