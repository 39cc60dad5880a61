using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace FlowOod.AspNetCore;

/// <summary>Checks <see cref="FlowOodGateOptions"/> when the host starts, with one message per problem naming the setting.</summary>
internal sealed class FlowOodGateOptionsValidator(IServiceProviderIsService? services = null) : IValidateOptions<FlowOodGateOptions>
{
    private const string Section = "FlowOodGateOptions";

    public ValidateOptionsResult Validate(string? name, FlowOodGateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.GatePath))
        {
            errors.Add($"{Section}.GatePath is required: the gate file written by OodGate.Save.");
        }

        if (options.ClassifierFactory is null && services is not null && !services.IsService(typeof(nn.Module<Tensor, Tensor>)))
        {
            errors.Add($"{Section}.ClassifierFactory is not set and no nn.Module<Tensor, Tensor> is registered: the gate needs the classifier it was fitted with.");
        }

        ServingChecks(errors, options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The checks of the settings every FlowOod service shares (<see cref="FlowOodServingOptions"/>).</summary>
    internal static void ServingChecks(List<string> errors, FlowOodServingOptions options)
    {
        if (options.TargetFalsePositiveRate is { } alpha && !(alpha > 0 && alpha < 1))
        {
            errors.Add($"{options.Section}.TargetFalsePositiveRate must lie strictly between 0 and 1, got {Format(alpha)}.");
        }

        Range(errors, options.Section, "MaxBatchSize", options.MaxBatchSize, 1, 4096);
        Range(errors, options.Section, "MaxRequestBytes", options.MaxRequestBytes, 1, 64 << 20);
        Range(errors, options.Section, "MaxQueueLength", options.MaxQueueLength, 1, 1_000_000);
        Range(errors, options.Section, "DriftWindow", options.DriftWindow, 10, 1_000_000);
        if (options.MaxBatchDelay < TimeSpan.Zero || options.MaxBatchDelay > TimeSpan.FromSeconds(1))
        {
            errors.Add($"{options.Section}.MaxBatchDelay must be between 0 and 1 s, got {options.MaxBatchDelay}.");
        }

        if (options.ReloadCheckInterval < TimeSpan.FromMilliseconds(100) || options.ReloadCheckInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{options.Section}.ReloadCheckInterval must be between 100 ms and 1 h, got {options.ReloadCheckInterval}.");
        }

        if (options.RequestBodyTimeout < TimeSpan.FromMilliseconds(100) || options.RequestBodyTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{options.Section}.RequestBodyTimeout must be between 100 ms and 10 min, got {options.RequestBodyTimeout}.");
        }

        if (options.ShutdownDrainTimeout < TimeSpan.Zero || options.ShutdownDrainTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{options.Section}.ShutdownDrainTimeout must be between 0 (off) and 5 min, got {options.ShutdownDrainTimeout}.");
        }

        if (!(options.DriftAlarmZ > 0 && options.DriftAlarmZ <= 10))
        {
            errors.Add($"{options.Section}.DriftAlarmZ must be in (0, 10], got {Format(options.DriftAlarmZ)}.");
        }

    }

    internal static void Range(List<string> errors, string section, string setting, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{section}.{setting} must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, got {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }

    internal static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
