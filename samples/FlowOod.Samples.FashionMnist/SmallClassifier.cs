using System;
using System.Threading;
using FlowOod.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FlowOod.Samples.FashionMnist;

// A small CNN classifier for 1×28×28 images: two 3×3 convolutions (8 and 16 channels) with ReLU and 2×2 max-pooling,
// a linear embedding layer, then ReLU and a linear head to 10 logits. Embedding is the feature extractor of the
// feature-space scorer (pre-activation, so no feature is constant zero). Used by the compare-scorers verb and, linked,
// by the feature-space tests.
public sealed class SmallClassifier : nn.Module<Tensor, Tensor>
{
    private readonly Sequential embedding;
    private readonly Sequential head;

    public SmallClassifier(int embeddingSize)
        : base(nameof(SmallClassifier))
    {
        embedding = nn.Sequential(
            ("conv1", nn.Conv2d(1, 8, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(8, 16, 3, padding: 1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("embed", nn.Linear(16 * 7 * 7, embeddingSize)));
        head = nn.Sequential(("relu", nn.ReLU()), ("logits", nn.Linear(embeddingSize, 10)));
        RegisterComponents();
    }

    // Images [N, 1, 28, 28] → embeddings [N, embeddingSize].
    public Sequential Embedding => embedding;

    public override Tensor forward(Tensor input) => head.call(embedding.call(input));

    // Trains with Adam on cross-entropy, mini-batches drawn without replacement from a generator seeded with seed;
    // returns the model in evaluation mode and the mean loss of the last 20 steps.
    public static (SmallClassifier Model, double FinalLoss) Train(
        ImageDataset data, int count, int embeddingSize, int steps, int batchSize, double learningRate, long seed, CancellationToken cancellationToken)
    {
        random.manual_seed(seed);
        var model = new SmallClassifier(embeddingSize);
        using var scope = NewDisposeScope();
        var images = data.ToTensor(0, count);
        var labels = tensor(data.Labels.Span[..count].ToArray()).to_type(ScalarType.Int64);
        using var shuffle = new Generator((ulong)seed);
        using var optimizer = optim.Adam(model.parameters(), lr: learningRate);
        model.train();
        Tensor order = randperm(count, generator: shuffle);
        long cursor = 0;
        double recent = 0;
        for (int step = 0; step < steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (cursor + batchSize > count)
            {
                order = randperm(count, generator: shuffle);
                cursor = 0;
            }

            using var stepScope = NewDisposeScope();
            var indices = order.narrow(0, cursor, batchSize);
            cursor += batchSize;
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(images.index_select(0, indices)), labels.index_select(0, indices));
            loss.backward();
            optimizer.step();
            if (step >= steps - 20)
            {
                recent += ReadDouble(loss) / 20;
            }
        }

        model.eval();
        return (model, recent);
    }

    // The fraction of correctly classified images among the first count of data.
    public double Accuracy(ImageDataset data, int count)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var labels = tensor(data.Labels.Span[..count].ToArray()).to_type(ScalarType.Int64);
        var predicted = call(data.ToTensor(0, count)).argmax(1);
        return ReadDouble(predicted.eq(labels).to_type(ScalarType.Float64).mean());
    }

    // A one-element tensor's value. TorchSharp's ToDouble() reads it through a temporary Scalar that the finalizer may free
    // during the read (which aborts the process); a Scalar made with `using` stays alive (FlowOod's docs/design.md, "Scalars").
    private static double ReadDouble(Tensor value)
    {
        using var scalar = value.ToScalar();
        return scalar.ToDouble();
    }
}
