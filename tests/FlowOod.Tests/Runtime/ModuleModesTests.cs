using System.Linq;
using FlowOod.Models;
using FluentAssertions;
using TorchSharp;
using Xunit;

namespace FlowOod.Tests.Runtime;

// ModuleModes keeps a tree's list of modules, never its modes: a mode changed after the first check is seen at the next.
public sealed class ModuleModesTests
{
    [Fact]
    public void FirstTraining_ReadsTheModesOnEveryCall_FromTheListOfTheFirst()
    {
        using var flow = RealNvp.Create([1, 8, 8], new RealNvpOptions { Scales = 1, Width = 8, Blocks = 1 });
        flow.eval();
        ModuleModes.AreEvaluating(flow).Should().BeTrue();
        flow.IsInEvaluationMode.Should().BeTrue();

        var deep = flow.modules().Last();
        deep.train();
        ModuleModes.FirstTraining(flow).Should().BeSameAs(deep, "the deepest module's mode changed after the tree was listed");
        flow.IsInEvaluationMode.Should().BeFalse();

        deep.eval();
        var middle = flow.modules().ElementAt(3);
        middle.train();
        ModuleModes.FirstTraining(flow).Should().BeSameAs(flow.modules().First(m => m.training), "the first module in modules() order");

        flow.eval();
        ModuleModes.AreEvaluating(flow).Should().BeTrue();
        flow.train();
        ModuleModes.FirstTraining(flow).Should().BeSameAs(flow, "the root itself comes first");
    }

    [Fact]
    public void EachRoot_HasItsOwnList()
    {
        using var outer = torch.nn.Sequential(("a", torch.nn.Linear(2, 2)), ("b", torch.nn.ReLU()));
        var inner = (torch.nn.Module)outer.named_modules().Single(m => m.name == "a").module;
        outer.eval();
        ModuleModes.AreEvaluating(inner).Should().BeTrue();
        ModuleModes.AreEvaluating(outer).Should().BeTrue();

        outer.named_modules().Single(m => m.name == "b").module.train();
        ModuleModes.AreEvaluating(inner).Should().BeTrue("b is not inside a");
        ModuleModes.AreEvaluating(outer).Should().BeFalse();
    }
}
