using System;
using System.Collections.Generic;
using System.Linq;

namespace FlowOod.Onnx;

/// <summary>An attribute of an ONNX node (AttributeProto): a name and an int, a float, a list of ints or a string.</summary>
public sealed class OnnxAttributeValue
{
    private readonly long? intValue;
    private readonly float? floatValue;
    private readonly long[]? intsValue;
    private readonly string? stringValue;

    private OnnxAttributeValue(string name, long? intValue = null, float? floatValue = null, long[]? intsValue = null, string? stringValue = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        this.intValue = intValue;
        this.floatValue = floatValue;
        this.intsValue = intsValue;
        this.stringValue = stringValue;
    }

    /// <summary>The attribute's name, e.g. <c>"axis"</c>.</summary>
    public string Name { get; }

    /// <summary>An INT attribute.</summary>
    /// <param name="name">The attribute's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttributeValue Of(string name, long value) => new(name, intValue: value);

    /// <summary>A FLOAT attribute.</summary>
    /// <param name="name">The attribute's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttributeValue Of(string name, float value) => new(name, floatValue: value);

    /// <summary>An INTS attribute (e.g. <c>pads</c>, <c>perm</c>).</summary>
    /// <param name="name">The attribute's name.</param>
    /// <param name="values">Its values (copied).</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttributeValue Of(string name, IEnumerable<long> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new(name, intsValue: values.ToArray());
    }

    /// <summary>A STRING attribute.</summary>
    /// <param name="name">The attribute's name.</param>
    /// <param name="value">Its value (UTF-8).</param>
    /// <returns>The attribute.</returns>
    public static OnnxAttributeValue Of(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(name, stringValue: value);
    }

    /// <summary>AttributeProto: name (1), f (2), i (3), s (4), ints (8), type (20: FLOAT 1, INT 2, STRING 3, INTS 7).</summary>
    internal ProtoWriter Encode()
    {
        var proto = new ProtoWriter().Text(1, Name);
        if (intValue is { } i)
        {
            return proto.Varint(3, i).Varint(20, 2);
        }

        if (floatValue is { } f)
        {
            return proto.Float(2, f).Varint(20, 1);
        }

        if (stringValue is { } s)
        {
            return proto.Text(4, s).Varint(20, 3);
        }

        foreach (var value in intsValue!)
        {
            proto.Varint(8, value);
        }

        return proto.Varint(20, 7);
    }
}
