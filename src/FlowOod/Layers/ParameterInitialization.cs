using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Layers;

/// <summary>
/// Whether the constructors of FlowOod's modules initialise what they create (drawing random initial weights from
/// torch's global generator, as PyTorch and TorchSharp do) or only allocate it, on the current thread.
/// </summary>
/// <remarks>
/// <para>By default every constructor initialises: a user who seeds torch's global generator and builds a flow gets the
/// same weights every time. The model-file loader and <c>FlowCopy</c> build a flow whose every parameter and buffer is
/// overwritten right after; they build inside a <see cref="Skip"/> scope, in which FlowOod's layers allocate with
/// <c>torch.empty</c> and draw nothing, so loading and copying never read or advance the global generator (which is
/// process-wide: a save/restore around the build would rewind another thread's draws).</para>
/// <para>Why a scoped thread-local and not an argument: the modules are built behind public extension points
/// (<c>IConditionerFactory.Create</c>, <c>IBottleneck.Create</c>, <c>IFlowBuilderOptions.Build</c>, the public bijector
/// constructors) whose signatures would all have to carry the flag, including users' implementations that merely
/// forward to ours. The flag is a property of the whole build, like torch's grad mode, so it travels the same way:
/// set for the duration of one synchronous build on one thread, restored when the scope is disposed, never visible
/// to other threads. Code that builds on another thread (or across an <c>await</c>) does not see it and initialises
/// normally, which is the safe default (a few wasted draws, never an uninitialised weight).</para>
/// <para>Only FlowOod's own modules consult the flag. A user's module that draws in its constructor still draws; see
/// <c>FlowCopy.BuildIsolated</c> for how such architectures are handled.</para>
/// </remarks>
internal static class ParameterInitialization
{
    [ThreadStatic]
    private static int skipDepth;

    /// <summary>Whether constructors on this thread only allocate (inside a <see cref="Skip"/> scope).</summary>
    public static bool IsSkipped => skipDepth > 0;

    /// <summary>Until the scope is disposed, FlowOod's constructors on this thread allocate without initialising.</summary>
    public static SkipScope Skip()
    {
        skipDepth++;
        return new SkipScope(true);
    }

    /// <summary>
    /// PyTorch's default initialisation of a convolution or linear layer, as TorchSharp's <c>Conv2d</c>/<c>Linear</c>
    /// do it: weight ~ kaiming_uniform(a = √5), i.e. U(−1/√fanIn, 1/√fanIn), then bias ~ U(−1/√fanIn, 1/√fanIn), both
    /// drawn from torch's global generator in that order. Nothing happens inside a <see cref="Skip"/> scope.
    /// </summary>
    /// <param name="weight">The weight; its fan-in is computed by libtorch from its shape (dimension 1 times the kernel size).</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="fanIn">The fan-in libtorch computes for <paramref name="weight"/> (given, so no tensor is created to find it).</param>
    public static void DefaultLayerInit(Tensor weight, Tensor? bias, long fanIn)
    {
        if (IsSkipped)
        {
            return;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (bias is not null && fanIn > 0)
        {
            var bound = 1 / Math.Sqrt(fanIn);
            nn.init.uniform_(bias, -bound, bound);
        }
    }

    /// <summary>Fills <paramref name="tensor"/> from N(mean, std²) drawn from torch's global generator; nothing inside a <see cref="Skip"/> scope.</summary>
    public static void Normal(Tensor tensor, double mean, double std)
    {
        if (IsSkipped)
        {
            return;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        nn.init.normal_(tensor, mean, std);
    }

    /// <summary>Sets <paramref name="tensor"/> to zero; nothing inside a <see cref="Skip"/> scope (the value is overwritten anyway).</summary>
    public static void Zero(Tensor tensor)
    {
        if (IsSkipped)
        {
            return;
        }

        // zero_ returns a second managed wrapper of the same tensor; the scope frees that wrapper, not the tensor.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        tensor.zero_();
    }

    /// <summary>
    /// A new parameter of <paramref name="shape"/> on <paramref name="device"/> in the default dtype, uninitialised
    /// (<c>torch.empty</c>): the caller initialises it, or, inside a <see cref="Skip"/> scope, its value is copied in later.
    /// </summary>
    public static Parameter Allocate(long[] shape, Device? device) => Parameters.Create(empty(shape, device: device));

    /// <summary>Ends a <see cref="Skip"/> scope.</summary>
    public readonly struct SkipScope : IDisposable
    {
        private readonly bool active;

        internal SkipScope(bool active)
        {
            this.active = active;
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            if (active && skipDepth > 0)
            {
                skipDepth--;
            }
        }
    }
}
