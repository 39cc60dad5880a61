using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json.Nodes;

namespace FlowOod.Tests.Persistence;

// Seeded damage to a valid model file. Except for "byte flips" and "truncation" (which the checksum and the preamble must
// catch), the checksum is recomputed, so the damage reaches the JSON layer, the tensor table and the tensor values, as a
// tool rewriting the file would leave it.
internal static class ModelFileMutations
{
    public static readonly string[] Kinds =
        ["byte flips", "truncation", "json number", "json string", "json array", "json object", "integer buffer", "tensor bytes"];

    private static readonly double[] Interesting =
        [0, -1, 1, 2, 3, 255, 65536, 268435456, 268435457, 2147483647, 2147483648, 4294967296, 9007199254740993, 1e300, -1e300, 0.5, 1e-300];

    // Returns what was changed and the damaged file.
    public static (string What, byte[] File) Apply(string kind, byte[] valid, Random rng) => kind switch
    {
        "byte flips" => FlipBytes(valid, rng),
        "truncation" => Truncate(valid, rng),
        "json number" => EditHeader(valid, rng, JsonNumber),
        "json string" => EditHeader(valid, rng, JsonString),
        "json array" => EditHeader(valid, rng, JsonArrayEdit),
        "json object" => EditHeader(valid, rng, JsonObjectEdit),
        "integer buffer" => IntegerBuffer(valid, rng),
        "tensor bytes" => TensorBytes(valid, rng),
        _ => throw new ArgumentException($"Unknown mutation kind '{kind}'.", nameof(kind)),
    };

    // The file with the header edited by `edit` (checksum recomputed).
    public static byte[] WithHeader(byte[] valid, Action<JsonObject> edit)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        edit(header);
        surgery.HeaderJson = header;
        return surgery.Build();
    }

    private static (string, byte[]) FlipBytes(byte[] valid, Random rng)
    {
        var bytes = (byte[])valid.Clone();
        var at = new List<int>();
        for (int k = rng.Next(1, 8); k > 0; k--)
        {
            var i = rng.Next(bytes.Length);
            bytes[i] ^= (byte)(1 << rng.Next(8));
            at.Add(i);
        }

        return ($"bits flipped at {string.Join(", ", at)}", bytes);
    }

    private static (string, byte[]) Truncate(byte[] valid, Random rng)
    {
        var at = rng.Next(valid.Length);
        return rng.Next(3) switch
        {
            0 => ($"cut to {at} bytes", valid[..at]),
            1 => ($"byte inserted at {at}", [.. valid[..at], (byte)rng.Next(256), .. valid[at..]]),
            _ => ($"{valid.Length - at} bytes cut at the end", valid[..^(valid.Length - at)]),
        };
    }

    // A slot of the header: the container holding a value and where in it.
    private sealed record Slot(JsonNode Parent, string? Key, int Index, string Path, JsonNode? Value)
    {
        public void Set(JsonNode? value)
        {
            if (Parent is JsonObject o)
            {
                o[Key!] = value;
            }
            else
            {
                ((JsonArray)Parent)[Index] = value;
            }
        }
    }

    private static (string, byte[]) EditHeader(byte[] valid, Random rng, Func<JsonObject, List<Slot>, Random, string?> edit)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var header = surgery.HeaderJson;
        var slots = new List<Slot>();
        Collect(header, "$", slots);

        // Half of the edits stay out of the tensor table, whose many entries would otherwise take most of them.
        var pool = rng.Next(2) == 0 ? slots.Where(s => !s.Path.StartsWith("$.tensors", StringComparison.Ordinal)).ToList() : slots;
        var what = edit(header, pool, rng) ?? "nothing to edit";
        surgery.HeaderJson = header;
        return (what, surgery.Build());
    }

    private static void Collect(JsonNode node, string path, List<Slot> slots)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o.ToList())
                {
                    slots.Add(new Slot(o, key, -1, $"{path}.{key}", value));
                    if (value is not null)
                    {
                        Collect(value, $"{path}.{key}", slots);
                    }
                }

                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    slots.Add(new Slot(a, null, i, $"{path}[{i}]", a[i]));
                    if (a[i] is { } item)
                    {
                        Collect(item, $"{path}[{i}]", slots);
                    }
                }

                break;
        }
    }

    private static T Pick<T>(IReadOnlyList<T> items, Random rng) => items[rng.Next(items.Count)];

    private static string? JsonNumber(JsonObject header, List<Slot> slots, Random rng)
    {
        var numbers = slots.Where(s => s.Value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number).ToList();
        if (numbers.Count == 0)
        {
            return null;
        }

        var slot = Pick(numbers, rng);
        var old = slot.Value!.GetValue<double>();
        double[] near = [old + 1, old - 1, old * 2, Math.Floor(old / 2), -old, old + 0.5];
        var value = rng.Next(2) == 0 ? Pick(near, rng) : Pick(Interesting, rng);
        slot.Set(value == Math.Floor(value) && Math.Abs(value) < 9.3e18 ? JsonValue.Create((long)value) : JsonValue.Create(value));
        return $"{slot.Path} = {value.ToString("R", CultureInfo.InvariantCulture)} (was {old.ToString("R", CultureInfo.InvariantCulture)})";
    }

    private static string? JsonString(JsonObject header, List<Slot> slots, Random rng)
    {
        var strings = slots.Where(s => s.Value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String).ToList();
        if (strings.Count == 0)
        {
            return null;
        }

        var slot = Pick(strings, rng);
        var old = slot.Value!.GetValue<string>();
        JsonNode?[] replacements =
        [
            "", old + "x", old.Length > 1 ? old[..^1] : "?", old.ToUpperInvariant(), Pick(strings, rng).Value!.GetValue<string>(),
            new string('x', 300), JsonValue.Create(1), null, JsonValue.Create(true), new JsonArray(),
        ];
        var value = Pick(replacements, rng);
        slot.Set(value);
        return $"{slot.Path} = {value?.ToJsonString() ?? "null"} (was \"{old}\")";
    }

    private static string? JsonArrayEdit(JsonObject header, List<Slot> slots, Random rng)
    {
        var arrays = slots.Where(s => s.Value is JsonArray { Count: > 0 }).ToList();
        if (arrays.Count == 0)
        {
            return null;
        }

        var slot = Pick(arrays, rng);
        var array = (JsonArray)slot.Value!;
        var i = rng.Next(array.Count);
        switch (rng.Next(5))
        {
            case 0:
                array.Insert(rng.Next(array.Count + 1), array[i]?.DeepClone());
                return $"{slot.Path}: entry {i} duplicated";
            case 1:
                array.RemoveAt(i);
                return $"{slot.Path}: entry {i} removed";
            case 2:
                var j = rng.Next(array.Count);
                var copy = array[j]?.DeepClone();
                array[i] = copy;
                return $"{slot.Path}: entry {i} replaced by entry {j}";
            case 3:
                array.Clear();
                return $"{slot.Path} emptied";
            default:
                var reversed = array.Select(n => n?.DeepClone()).Reverse().ToArray();
                slot.Set(new JsonArray(reversed));
                return $"{slot.Path} reversed";
        }
    }

    private static string? JsonObjectEdit(JsonObject header, List<Slot> slots, Random rng)
    {
        var objects = slots.Where(s => s.Value is JsonObject { Count: > 0 }).ToList();
        if (objects.Count == 0)
        {
            return null;
        }

        var slot = Pick(objects, rng);
        var obj = (JsonObject)slot.Value!;
        var key = Pick(obj.Select(p => p.Key).ToList(), rng);
        switch (rng.Next(4))
        {
            case 0:
                obj.Remove(key);
                return $"{slot.Path}.{key} removed";
            case 1:
                obj[key] = null;
                return $"{slot.Path}.{key} = null";
            case 2:
                obj[key] = new JsonObject();
                return $"{slot.Path}.{key} = {{}}";
            default:
                slot.Set(new JsonObject());
                return $"{slot.Path} = {{}}";
        }
    }

    // Changes one element of an int64, int32, uint8 or bool tensor (indices, masks, counters): out of range, a duplicate
    // of another element, a swap of two elements, or the other boolean.
    private static (string, byte[]) IntegerBuffer(byte[] valid, Random rng)
    {
        var surgery = ModelFileSurgery.Open(valid);
        var entries = surgery.HeaderJson["tensors"]!.AsArray()
            .Select(t => (Name: t!["name"]!.GetValue<string>(), Dtype: t["dtype"]!.GetValue<string>(), Length: t["length"]!.GetValue<long>()))
            .Where(t => t.Dtype is "int64" or "int32" or "uint8" or "bool" && t.Length > 0)
            .ToList();
        if (entries.Count == 0)
        {
            return ("no integer tensor", surgery.Build());
        }

        var (name, dtype, length) = Pick(entries, rng);
        var (offset, _, _) = surgery.Tensor(name);
        var size = dtype switch { "int64" => 8, "int32" => 4, _ => 1 };
        var count = (int)(length / size);
        var i = rng.Next(count);
        var at = surgery.Data.AsSpan(offset + (i * size), size);
        string what;
        if (size == 1)
        {
            var value = dtype == "bool" && rng.Next(4) > 0 ? (byte)(at[0] ^ 1) : (byte)rng.Next(256);
            what = $"{value} (was {at[0]})";
            at[0] = value;
        }
        else
        {
            var old = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(at) : BinaryPrimitives.ReadInt32LittleEndian(at);
            var j = rng.Next(count);
            var other = surgery.Data.AsSpan(offset + (j * size), size);
            long[] choices = [-1, count, count + 1, old + 1, old - 1, 1L << 40, long.MinValue, int.MaxValue, size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(other) : BinaryPrimitives.ReadInt32LittleEndian(other)];
            var value = Pick(choices, rng);
            if (rng.Next(4) == 0 && count > 1 && i != j)
            {
                // Swap two entries: a permutation stays a permutation, but not this one.
                var (first, second) = (at.ToArray(), other.ToArray());
                second.CopyTo(at);
                first.CopyTo(other);
                what = $"entries {i} and {j} swapped";
            }
            else
            {
                if (size == 8)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(at, value);
                }
                else
                {
                    BinaryPrimitives.WriteInt32LittleEndian(at, unchecked((int)value));
                }

                what = $"element {i} = {value} (was {old})";
            }
        }

        return ($"{name} ({dtype}{(count == 1 ? " scalar" : $"[{count}]")}): {what}", surgery.Build());
    }

    // Flips bits of, or overwrites, 1-4 bytes of the tensor data.
    private static (string, byte[]) TensorBytes(byte[] valid, Random rng)
    {
        var surgery = ModelFileSurgery.Open(valid);
        if (surgery.Data.Length == 0)
        {
            return ("no tensor data", surgery.Build());
        }

        var hit = new List<int>();
        for (int k = rng.Next(1, 5); k > 0; k--)
        {
            var at = rng.Next(surgery.Data.Length);
            surgery.Data[at] = rng.Next(2) == 0 ? (byte)(surgery.Data[at] ^ (1 << rng.Next(8))) : (byte)rng.Next(256);
            hit.Add(at);
        }

        return ($"data bytes {string.Join(", ", hit)}", surgery.Build());
    }
}
