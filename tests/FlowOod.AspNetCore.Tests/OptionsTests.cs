using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using FluentAssertions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace FlowOod.AspNetCore.Tests;

public sealed class OptionsTests
{
    private static ValidateOptionsResult Validate(Action<FlowOodGateOptions> change, bool classifierRegistered = true)
    {
        var options = new FlowOodGateOptions { GatePath = "gate.flowood" };
        change(options);
        return new FlowOodGateOptionsValidator(new ServiceCheck(classifierRegistered)).Validate(null, options);
    }

    [Fact]
    public void Validate_Defaults_Succeed() => Validate(_ => { }).Succeeded.Should().BeTrue();

    [Theory]
    [InlineData("GatePath")]
    [InlineData("TargetFalsePositiveRate")]
    [InlineData("MaxBatchSize")]
    [InlineData("MaxBatchDelay")]
    [InlineData("MaxRequestBytes")]
    [InlineData("MaxQueueLength")]
    [InlineData("DriftWindow")]
    [InlineData("DriftAlarmZ")]
    [InlineData("ReloadCheckInterval")]
    [InlineData("RequestBodyTimeout")]
    [InlineData("ShutdownDrainTimeout")]
    public void Validate_BadSetting_FailsNamingIt(string setting)
    {
        Action<FlowOodGateOptions> change = setting switch
        {
            "GatePath" => o => o.GatePath = " ",
            "TargetFalsePositiveRate" => o => o.TargetFalsePositiveRate = 1.0,
            "MaxBatchSize" => o => o.MaxBatchSize = 0,
            "MaxBatchDelay" => o => o.MaxBatchDelay = TimeSpan.FromSeconds(-1),
            "MaxRequestBytes" => o => o.MaxRequestBytes = 0,
            "MaxQueueLength" => o => o.MaxQueueLength = 0,
            "DriftWindow" => o => o.DriftWindow = 5,
            "DriftAlarmZ" => o => o.DriftAlarmZ = double.NaN,
            "RequestBodyTimeout" => o => o.RequestBodyTimeout = TimeSpan.FromMilliseconds(99),
            "ShutdownDrainTimeout" => o => o.ShutdownDrainTimeout = TimeSpan.FromMinutes(6),
            _ => o => o.ReloadCheckInterval = TimeSpan.Zero,
        };
        var result = Validate(change);
        result.Failed.Should().BeTrue();
        result.FailureMessage.Should().Contain($"FlowOodGateOptions.{setting}");
    }

    [Fact]
    public void Validate_DeadlinesAtTheirLimits_Succeed()
    {
        Validate(o => o.RequestBodyTimeout = TimeSpan.FromMilliseconds(100)).Succeeded.Should().BeTrue();
        Validate(o => o.RequestBodyTimeout = TimeSpan.FromMinutes(10)).Succeeded.Should().BeTrue();
        Validate(o => o.ShutdownDrainTimeout = TimeSpan.Zero).Succeeded.Should().BeTrue("0 turns the drain off");
        Validate(o => o.ShutdownDrainTimeout = TimeSpan.FromSeconds(-1)).Failed.Should().BeTrue();
    }

    [Fact]
    public void Validate_NoClassifierAnywhere_FailsSayingSo() =>
        Validate(_ => { }, classifierRegistered: false).FailureMessage.Should().Contain("ClassifierFactory");

    [Fact]
    public void AddFlowOodGate_BindsAConfigurationSectionThenCode()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FlowOod:Gate:GatePath"] = "/models/gate.flowood",
            ["FlowOod:Gate:MaxBatchSize"] = "16",
            ["FlowOod:Gate:MaxBatchDelay"] = "00:00:00.005",
            ["FlowOod:Gate:TargetFalsePositiveRate"] = "0.01",
        }).Build();
        using var provider = new ServiceCollection()
            .AddFlowOodGate(configuration.GetSection("FlowOod:Gate"), o =>
            {
                o.DriftWindow = 500;
                o.ClassifierFactory = _ => throw new InvalidOperationException("not called: the host is not started");
            })
            .BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<FlowOodGateOptions>>().Value;
        options.GatePath.Should().Be("/models/gate.flowood");
        options.MaxBatchSize.Should().Be(16);
        options.MaxBatchDelay.Should().Be(TimeSpan.FromMilliseconds(5));
        options.TargetFalsePositiveRate.Should().Be(0.01);
        options.DriftWindow.Should().Be(500);
        provider.GetService<IOodGateClassifier>().Should().NotBeNull();
    }

    [Fact]
    public async Task HostStart_WithInvalidOptions_FailsWithEveryMessage()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddFlowOodGate(o => o.MaxBatchSize = -1);
        using var host = builder.Build();
        var act = () => host.StartAsync();
        var e = (await act.Should().ThrowAsync<OptionsValidationException>()).Which;
        e.Message.Should().Contain("GatePath").And.Contain("MaxBatchSize").And.Contain("ClassifierFactory");
    }

    private sealed class ServiceCheck(bool classifier) : IServiceProviderIsService
    {
        public bool IsService(Type serviceType) => classifier;
    }
}
