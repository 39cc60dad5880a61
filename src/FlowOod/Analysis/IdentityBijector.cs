using static TorchSharp.torch;

namespace FlowOod.Analysis;

/// <summary>y = x in both directions, LogDet 0: what a reshape model puts where a flow has nothing but value changes.</summary>
internal sealed class IdentityBijector : Bijectors.Bijector
{
    public IdentityBijector()
        : base("Identity")
    {
        RegisterComponents();
    }

    protected override (Tensor Output, Tensor LogDet) ForwardCore(Tensor input) => (input.clone(), ZeroLogDet(input));

    protected override (Tensor Output, Tensor LogDet) InverseCore(Tensor input) => (input.clone(), ZeroLogDet(input));

    public override string ToString() => "Identity";
}
