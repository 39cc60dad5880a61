using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace FlowOod.Tests.Guards;

/// <summary>
/// The calls each method of one assembly makes, read from its IL with System.Reflection.Metadata (no loading, no
/// reflection over the code). A method is named <c>Namespace.Type/Nested::Name(parameter types)</c>, with generic
/// types named without their arguments, so a call site in one assembly and the definition in another get the same name.
/// </summary>
internal sealed class IlCallGraph
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(op => op.Value, op => op.OperandType);

    private IlCallGraph(string assemblyName, IReadOnlyDictionary<string, MethodInfoRow> methods)
    {
        AssemblyName = assemblyName;
        Methods = methods;
    }

    /// <summary>The assembly's simple name.</summary>
    public string AssemblyName { get; }

    /// <summary>Every method with a body, by name.</summary>
    public IReadOnlyDictionary<string, MethodInfoRow> Methods { get; }

    /// <summary>Reads every method body of the assembly at <paramref name="path"/>.</summary>
    public static IlCallGraph Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var names = new SignatureNames(reader);
        var methods = new Dictionary<string, MethodInfoRow>(StringComparer.Ordinal);
        foreach (var handle in reader.MethodDefinitions)
        {
            var definition = reader.GetMethodDefinition(handle);
            var name = names.Method(handle);
            var returnType = definition.DecodeSignature(names, null).ReturnType;
            var calls = new List<string>();
            var consumed = new List<string>();
            if (definition.RelativeVirtualAddress != 0)
            {
                var body = pe.GetMethodBody(definition.RelativeVirtualAddress);
                var il = body.GetILReader();
                while (il.RemainingBytes > 0)
                {
                    short value = il.ReadByte();
                    if (value == 0xFE)
                    {
                        value = unchecked((short)(0xFE00 | il.ReadByte()));
                    }

                    if (!OperandTypes.TryGetValue(value, out var operand))
                    {
                        throw new InvalidDataException($"Unknown IL opcode 0x{value:X} in {name} at offset {il.Offset - 1}.");
                    }

                    if (operand == OperandType.InlineMethod)
                    {
                        var afterCall = il.Offset + 4;
                        var callee = names.Callee(MetadataTokens.EntityHandle(il.ReadInt32()));
                        calls.Add(callee);
                        if (il.RemainingBytes == 0 || !StoresResult(il.ReadByte(), il.RemainingBytes > 0 ? il.ReadByte() : (byte)0))
                        {
                            consumed.Add(callee);
                        }

                        il.Offset = afterCall;
                        continue;
                    }

                    Skip(ref il, operand);
                }
            }

            methods.TryAdd(name, new MethodInfoRow(name, returnType, calls, consumed));
        }

        return new IlCallGraph(reader.GetString(reader.GetAssemblyDefinition().Name), methods);
    }

    private static void Skip(ref BlobReader il, OperandType operand)
    {
        switch (operand)
        {
            case OperandType.InlineNone:
                break;
            case OperandType.ShortInlineBrTarget:
            case OperandType.ShortInlineI:
            case OperandType.ShortInlineVar:
                il.Offset += 1;
                break;
            case OperandType.InlineVar:
                il.Offset += 2;
                break;
            case OperandType.InlineI8:
            case OperandType.InlineR:
                il.Offset += 8;
                break;
            case OperandType.InlineSwitch:
                var targets = il.ReadInt32();
                il.Offset += 4 * targets;
                break;
            default:
                il.Offset += 4;
                break;
        }
    }

    // Whether the instruction after a call stores its result in a local or a field (stloc, stloc.s, stloc.0-3, stsfld,
    // stfld) instead of leaving it on the stack for the next call to consume.
    private static bool StoresResult(byte opcode, byte next) =>
        opcode is >= 0x0A and <= 0x0D or 0x13 or 0x80 or 0x7D || (opcode == 0xFE && next == 0x0E);

    /// <summary>
    /// One method: its name, its return type's name, the methods its body calls (and constructs) in IL order, and those
    /// of the calls whose result is not stored in a local or a field (a temporary the next instruction consumes).
    /// </summary>
    internal sealed record MethodInfoRow(string Name, string ReturnType, IReadOnlyList<string> Calls, IReadOnlyList<string> ConsumedCalls);

    /// <summary>Names types and methods the same way for definitions and references.</summary>
    private sealed class SignatureNames(MetadataReader reader) : ISignatureTypeProvider<string, object?>
    {
        public string Method(MethodDefinitionHandle handle)
        {
            var definition = reader.GetMethodDefinition(handle);
            var signature = definition.DecodeSignature(this, null);
            return Join(Type(definition.GetDeclaringType()), reader.GetString(definition.Name), signature);
        }

        public string Callee(EntityHandle handle)
        {
            switch (handle.Kind)
            {
                case HandleKind.MethodDefinition:
                    return Method((MethodDefinitionHandle)handle);
                case HandleKind.MethodSpecification:
                    return Callee(reader.GetMethodSpecification((MethodSpecificationHandle)handle).Method);
                case HandleKind.MemberReference:
                    var member = reader.GetMemberReference((MemberReferenceHandle)handle);
                    var owner = member.Parent.Kind switch
                    {
                        HandleKind.TypeReference => Type((TypeReferenceHandle)member.Parent),
                        HandleKind.TypeDefinition => Type((TypeDefinitionHandle)member.Parent),
                        HandleKind.TypeSpecification => WithoutArguments(
                            reader.GetTypeSpecification((TypeSpecificationHandle)member.Parent).DecodeSignature(this, null)),
                        _ => "?",
                    };
                    return Join(owner, reader.GetString(member.Name), member.DecodeMethodSignature(this, null));
                default:
                    return "?";
            }
        }

        private static string Join(string owner, string name, MethodSignature<string> signature)
            => $"{owner}::{name}({string.Join(",", signature.ParameterTypes)})";

        private static string WithoutArguments(string type)
        {
            var open = type.IndexOf('<', StringComparison.Ordinal);
            return open < 0 ? type : type[..open];
        }

        private string Type(TypeDefinitionHandle handle)
        {
            var type = reader.GetTypeDefinition(handle);
            var declaring = type.GetDeclaringType();
            return declaring.IsNil
                ? Qualified(reader.GetString(type.Namespace), reader.GetString(type.Name))
                : Type(declaring) + "/" + reader.GetString(type.Name);
        }

        private string Type(TypeReferenceHandle handle)
        {
            var type = reader.GetTypeReference(handle);
            return type.ResolutionScope.Kind == HandleKind.TypeReference
                ? Type((TypeReferenceHandle)type.ResolutionScope) + "/" + reader.GetString(type.Name)
                : Qualified(reader.GetString(type.Namespace), reader.GetString(type.Name));
        }

        private static string Qualified(string ns, string name) => ns.Length == 0 ? name : ns + "." + name;

        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[" + new string(',', shape.Rank - 1) + "]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments)
            => genericType + "<" + string.Join(",", typeArguments) + ">";
        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetPinnedType(string elementType) => elementType;
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetTypeFromDefinition(MetadataReader metadata, TypeDefinitionHandle handle, byte rawTypeKind) => Type(handle);
        public string GetTypeFromReference(MetadataReader metadata, TypeReferenceHandle handle, byte rawTypeKind) => Type(handle);
        public string GetTypeFromSpecification(MetadataReader metadata, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind)
            => reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
    }
}
