namespace FlowOod.Data;

/// <summary>Which split of a dataset published with a train/test division to load.</summary>
public enum DatasetSplit
{
    /// <summary>The training split (<c>train-*</c> files).</summary>
    Train,

    /// <summary>The test split (<c>t10k-*</c> files).</summary>
    Test,
}
