using System.Runtime.Intrinsics;

namespace FlowOod.Layers;

// The 16 channels the Winograd transforms load, add, scale and store as one value: one 512-bit vector or two 256-bit
// ones (HostConv.Winograd.cs, HostConv.Winograd4.cs).
internal sealed partial class HostConv
{
    // 16 consecutive floats (a block of channels) as the transforms load, add, scale and store them.
    private interface IChannelBlock<TSelf>
        where TSelf : struct, IChannelBlock<TSelf>
    {
        // Whether the direct kernel for the products is the 512-bit one.
        static abstract bool Wide { get; }

        static abstract TSelf Load(ref float at);

        static abstract TSelf operator +(TSelf x, TSelf y);

        static abstract TSelf operator -(TSelf x, TSelf y);

        static abstract TSelf operator *(TSelf x, float y);

        void StoreTo(ref float at);

        // Stores as the direct kernels store: plus the addend's values at the same place when accumulating, then ReLU.
        void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu);
    }

    // One 512-bit vector.
    private readonly struct Block512 : IChannelBlock<Block512>
    {
        private readonly Vector512<float> all;

        private Block512(Vector512<float> all) => this.all = all;

        public static bool Wide => true;

        public static Block512 Load(ref float at) => new(Vector512.LoadUnsafe(ref at));

        public static Block512 operator +(Block512 x, Block512 y) => new(x.all + y.all);

        public static Block512 operator -(Block512 x, Block512 y) => new(x.all - y.all);

        public static Block512 operator *(Block512 x, float y) => new(x.all * y);

        public void StoreTo(ref float at) => all.StoreUnsafe(ref at);

        public void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu) => Store(ref o, ref addend, offset, all, accumulate, relu);
    }

    // Two 256-bit vectors, channels 0–7 and 8–15.
    private readonly struct Block256 : IChannelBlock<Block256>
    {
        private readonly Vector256<float> low;
        private readonly Vector256<float> high;

        private Block256(Vector256<float> low, Vector256<float> high) => (this.low, this.high) = (low, high);

        public static bool Wide => false;

        public static Block256 Load(ref float at) => new(Vector256.LoadUnsafe(ref at), Vector256.LoadUnsafe(ref at, 8));

        public static Block256 operator +(Block256 x, Block256 y) => new(x.low + y.low, x.high + y.high);

        public static Block256 operator -(Block256 x, Block256 y) => new(x.low - y.low, x.high - y.high);

        public static Block256 operator *(Block256 x, float y) => new(x.low * y, x.high * y);

        public void StoreTo(ref float at)
        {
            low.StoreUnsafe(ref at);
            high.StoreUnsafe(ref at, 8);
        }

        public void StoreSum(ref float o, ref float addend, int offset, bool accumulate, bool relu) =>
            Store(ref o, ref addend, offset, low, high, accumulate, relu);
    }
}
