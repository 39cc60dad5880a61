using System.Linq;
using System.Runtime.CompilerServices;
using TorchSharp;

namespace FlowOod;

/// <summary>
/// Whether a module and every module inside it are in evaluation mode, read from a list of the tree's modules kept since
/// the first read.
/// </summary>
/// <remarks>
/// <para>Why: TorchSharp's <c>modules()</c> walks the tree through <c>named_modules()</c>, building every module's dotted
/// name, at about 1 µs a module: 200–300 µs for the compact RealNVP's 223 modules, measured on a 2-core AMD EPYC (Zen 5),
/// where one image's whole score takes 3–4 ms. FlowOod checks the modes of a scorer's flow and of a gate's classifier
/// on every call, so it keeps each root's list (reading the modes of 223 listed modules took 7 µs there).</para>
/// <para>The lists are kept per root module in a <see cref="ConditionalWeakTable{TKey, TValue}"/>: a list goes with its
/// module, and keeping one never keeps a module alive. A module registered under a root after the root's first check is
/// not seen; FlowOod's own modules register theirs in their constructors, and a classifier's layers are registered when
/// it is built.</para>
/// </remarks>
internal static class ModuleModes
{
    private static readonly ConditionalWeakTable<torch.nn.Module, torch.nn.Module[]> Trees = new();

    /// <summary>Whether <paramref name="root"/> and every module inside it are in evaluation mode.</summary>
    public static bool AreEvaluating(torch.nn.Module root) => FirstTraining(root) is null;

    /// <summary><paramref name="root"/> when it is in training mode, else the first module inside it (in <c>modules()</c>
    /// order) that is, or null when none is.</summary>
    public static torch.nn.Module? FirstTraining(torch.nn.Module root)
    {
        if (root.training)
        {
            return root;
        }

        foreach (var module in Trees.GetValue(root, static tree => tree.modules().ToArray()))
        {
            if (module.training)
            {
                return module;
            }
        }

        return null;
    }
}
