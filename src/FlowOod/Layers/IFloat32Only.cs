namespace FlowOod.Layers;

/// <summary>
/// Marks an st-network module that must compute in the flow's own dtype: a coupling layer whose st-network contains one
/// keeps float32 when the others run in bf16 (training and inference copies alike).
/// </summary>
/// <remarks>
/// The linear bottleneck is the one such module in FlowOod. Measured on a 2-core AMD EPYC with avx512_bf16: a
/// single-scale flow with 8 checkerboard couplings and auto-encoder st-networks with an l = 20 bottleneck, trained
/// 375 steps × 64 Fashion-MNIST images with bf16 st-networks, gave 5.86 bits/dim on held-out images in bf16 and 30.3
/// in float32, so the two precisions define different models. The same network without the bottleneck agreed within
/// 0.02 bits/dim, and so did the ResNet st-networks. Keeping the bottleneck couplings in float32 makes the trained
/// flow one model whatever precision it is scored in.
/// </remarks>
internal interface IFloat32Only;
