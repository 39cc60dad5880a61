using System;
using System.Collections.Generic;
using Microsoft.Extensions.Options;

namespace FlowOod.AspNetCore;

/// <summary>Checks <see cref="FlowOodEmbeddingOptions"/> when the host starts, with one message per problem naming the setting.</summary>
internal sealed class FlowOodEmbeddingOptionsValidator : IValidateOptions<FlowOodEmbeddingOptions>
{
    public ValidateOptionsResult Validate(string? name, FlowOodEmbeddingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.DetectorPath))
        {
            errors.Add($"{options.Section}.DetectorPath is required: the file written by EmbeddingDetector.Save.");
        }

        FlowOodGateOptionsValidator.Range(errors, options.Section, "MaxRowsPerRequest", options.MaxRowsPerRequest, 1, 65_536);
        FlowOodGateOptionsValidator.ServingChecks(errors, options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
