using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Analysis;

/// <summary>
/// The <see cref="CouplingLayerTrace"/> of every coupling layer of a flow for one batch, in forward order; disposing it
/// disposes them all.
/// </summary>
public sealed class CouplingTrace : IReadOnlyList<CouplingLayerTrace>, IDisposable
{
    private readonly CouplingLayerTrace[] layers;

    internal CouplingTrace(IEnumerable<CouplingLayerTrace> layers) => this.layers = layers.ToArray();

    /// <inheritdoc/>
    public int Count => layers.Length;

    /// <inheritdoc/>
    public CouplingLayerTrace this[int index] => layers[index];

    /// <inheritdoc/>
    public IEnumerator<CouplingLayerTrace> GetEnumerator() => ((IEnumerable<CouplingLayerTrace>)layers).GetEnumerator();

    /// <inheritdoc/>
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var layer in layers)
        {
            layer.Dispose();
        }
    }
}
