using System;
using FlowOod.Components;
using FlowOod.Masks;
using FlowOod.Persistence;
using FlowOod.Scoring;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace FlowOod.Tests.Persistence;

public sealed class ModelCatalogTests
{
    [Fact]
    public void With_ReturnsNewCatalogs_AndNeverChangesBuiltIn()
    {
        var extended = ModelCatalog.BuiltIn.With<StripeMask>();

        extended.Should().NotBeSameAs(ModelCatalog.BuiltIn);
        extended.Components.Contains<IMaskStrategy>("test-stripes").Should().BeTrue();
        ModelCatalog.BuiltIn.Components.Contains<IMaskStrategy>("test-stripes").Should().BeFalse("BuiltIn is never modified");
        ModelCatalog.BuiltIn.Components.Should().BeSameAs(ComponentCatalog.BuiltIn);
        extended.With<StripeMask>().Should().BeSameAs(extended, "registering a type twice changes nothing");

        var withFactory = extended.WithFlowFactory("f", (_, _) => throw new InvalidOperationException());
        withFactory.FlowFactory("f").Should().NotBeNull();
        extended.FlowFactory("f").Should().BeNull();
        withFactory.Components.Should().BeSameAs(extended.Components, "the other registrations are kept");
    }

    [Fact]
    public void Provided_HandsOverExtractorCompressorsAndObjects_InThatOrder()
    {
        Func<Tensor, Tensor> extractor = t => t;
        var compressor = new PngCompressor();
        var catalog = ModelCatalog.BuiltIn.WithProvided("first provided").WithCompressor(compressor).WithFeatureExtractor(extractor).WithProvided(7);

        catalog.Provided<object>().Should().Equal(extractor, compressor, "first provided", 7);
        catalog.Provided<ICompressor>().Should().Equal(compressor);
        catalog.Provided<string>().Should().Equal("first provided");
        ModelCatalog.BuiltIn.Provided<object>().Should().BeEmpty();
    }

    [Fact]
    public void Duplicates_AreRefused_NamingWhatClashes()
    {
        var withFactory = ModelCatalog.BuiltIn.WithFlowFactory("my-flow", (_, _) => throw new InvalidOperationException());
        var factory = () => withFactory.WithFlowFactory("my-flow", (_, _) => throw new InvalidOperationException());
        factory.Should().Throw<ArgumentException>().WithParameterName("name").WithMessage("*flow factory named \"my-flow\"*");

        var withPng = ModelCatalog.BuiltIn.WithCompressor(new PngCompressor());
        var compressor = () => withPng.WithCompressor(new PngCompressor());
        compressor.Should().Throw<ArgumentException>().WithParameterName("compressor").WithMessage("*compressor named \"PNG\"*");

        var withExtractor = ModelCatalog.BuiltIn.WithFeatureExtractor(t => t);
        using var module = nn.Flatten();
        var second = () => withExtractor.WithFeatureExtractor(module);
        second.Should().Throw<InvalidOperationException>().WithMessage("*already has a feature extractor*");

        var blank = () => ModelCatalog.BuiltIn.WithFlowFactory(" ", (_, _) => throw new InvalidOperationException());
        blank.Should().Throw<ArgumentException>().WithParameterName("name");
        var nullValue = () => ModelCatalog.BuiltIn.WithProvided(null!);
        nullValue.Should().Throw<ArgumentNullException>().WithParameterName("value");
    }
}
