using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace FlowOod.Gating;

/// <summary>
/// A forward hook on one submodule of a classifier that captures the submodule's output during the gate's own classifier
/// calls only, on the calling thread: the hook looks at a thread-static slot that <see cref="Run"/> sets around its call,
/// so the caller's own calls of the classifier (on any thread) and other gates' calls see nothing and get the same
/// results as without the hook (the hook never replaces an output).
/// </summary>
/// <remarks>TorchSharp 0.107 runs forward hooks from <c>Module.call</c> (not <c>forward</c>) and keeps them in a plain
/// dictionary of the module: registering (at construction) and removing (at <see cref="Dispose"/>) must not race with
/// calls of the classifier on other threads.</remarks>
internal sealed class LayerCapture : IDisposable
{
    [ThreadStatic]
    private static Slot? current;

    private readonly nn.Module<Tensor, Tensor>.HookRemover remover;
    private int removed;

    public LayerCapture(nn.Module<Tensor, Tensor> layer, string layerName)
    {
        LayerName = layerName;
        remover = layer.register_forward_hook(Hook);
    }

    public string LayerName { get; }

    /// <summary>
    /// Runs <paramref name="classifier"/> on <paramref name="input"/> and returns its output and a copy of the hooked
    /// layer's output in that call, both in the dispose scope active when <see cref="Run"/> was called (none: the caller's).
    /// </summary>
    /// <remarks>The hook runs inside whatever dispose scopes the classifier's forward opens, which are disposed when it
    /// returns; the copy is therefore detached from every scope in the hook and owned by the slot until it is handed out
    /// here (or disposed, when the classifier throws or the layer did not run exactly once).</remarks>
    /// <exception cref="InvalidOperationException">The layer did not run exactly once during the call.</exception>
    public (Tensor Output, Tensor Features) Run(nn.Module<Tensor, Tensor> classifier, Tensor input)
    {
        var slot = new Slot(this);
        var previous = current;
        current = slot;
        Tensor output;
        try
        {
            output = classifier.call(input);
        }
        catch
        {
            slot.Output?.Dispose();
            throw;
        }
        finally
        {
            current = previous;
        }

        using var captured = slot.Output;
        if (slot.Calls != 1 || captured is null)
        {
            throw new InvalidOperationException(slot.Calls == 0
                ? $"The feature layer '{LayerName}' did not run during the classifier's forward. TorchSharp runs forward hooks only when a module is "
                    + "invoked with call(...) (as Sequential does), not forward(...): make your classifier's forward call this layer with .call(x), or pass a "
                    + "FeatureExtractor instead."
                : $"The feature layer '{LayerName}' ran {slot.Calls} times during one forward of the classifier; a feature layer must run exactly once "
                    + "(pick a layer that is not shared, or pass a FeatureExtractor instead).");
        }

        // A new handle on the same storage, registered in the scope active here; the detached one is freed by the using.
        return (output, captured.alias());
    }

    // The named layer of the classifier (a name from named_modules()); the message lists the names when there is none.
    public static nn.Module<Tensor, Tensor> FindLayer(nn.Module<Tensor, Tensor> classifier, string featureLayer)
    {
        var named = classifier.named_modules().ToList();
        var match = named.FirstOrDefault(m => m.name == featureLayer);
        if (match.module is null)
        {
            var names = named.Select(m => m.name).Where(n => n.Length > 0).ToList();
            throw new ArgumentException(
                $"The classifier has no layer named '{featureLayer}'. Its named_modules() are: "
                + (names.Count == 0 ? "(none)" : string.Join(", ", names.Take(200).Select(n => $"'{n}'")) + (names.Count > 200 ? ", ..." : string.Empty)) + ".",
                nameof(featureLayer));
        }

        return match.module as nn.Module<Tensor, Tensor> ?? throw new ArgumentException(
            $"The classifier's layer '{featureLayer}' is a {match.module.GetType().Name}, not a Module<Tensor, Tensor>, so a forward hook cannot read its output; "
            + "pick a layer with one tensor in and one out, or pass a FeatureExtractor.",
            nameof(featureLayer));
    }

    /// <summary>Removes the hook; harmless when called again.</summary>
    public void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref removed, 1) == 0)
        {
            remover.remove();
        }
    }

    private Tensor Hook(nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        var slot = current;
        if (slot is not null && ReferenceEquals(slot.Owner, this))
        {
            slot.Calls++;
            if (slot.Calls == 1)
            {
                // A copy: the classifier may modify the output in place (an in-place ReLU after the layer) or dispose it,
                // and the scopes its forward opens are disposed when it returns, so the copy belongs to no scope until Run.
                slot.Output = output.clone().DetachFromDisposeScope();
            }
        }

        // Null leaves the layer's output unchanged (TorchSharp replaces the output only with a non-null hook result).
        return null!;
    }

    private sealed class Slot(LayerCapture owner)
    {
        public LayerCapture Owner { get; } = owner;

        public int Calls { get; set; }

        public Tensor? Output { get; set; }
    }
}
