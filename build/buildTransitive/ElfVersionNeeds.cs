// Build-time helper, shipped in the FlowOod package as buildTransitive/ElfVersionNeeds.cs (an MSBuild inline task's
// source, never compiled into a project: do not copy it into a project folder, where the SDK would compile it) and
// used by this repository's test, sample, benchmark and tool projects.
//
// TorchSharp 0.107's libLibTorchSharp.so declares a need for the symbol version GLIBCXX_3.4.32 (libstdc++ from
// GCC >= 13.2). The only symbol bound to that version is the GCC 13 link marker std::ios_base_library_init(), and no
// relocation uses it, so nothing needs that version at run time; but glibc's loader refuses the library on systems
// whose libstdc++ stops at an older version (Debian 12: GLIBCXX_3.4.30). Marking that one version need weak
// (VER_FLG_WEAK in its Elf64_Vernaux entry) makes a missing version non-fatal. This file does exactly that edit, on
// the build-output copy only, and only when the system's libstdc++ lacks the version.
//
// The MSBuild task (buildTransitive/FlowOod.targets, opted into with <FlowOodPatchLibTorchGlibc>true</...>) compiles
// this file with RoslynCodeTaskFactory; the unit tests compile it with FLOWOOD_ELF_NO_MSBUILD defined, which leaves out
// the MSBuild task class.
#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace FlowOod.Build
{
    /// <summary>The outcome of <see cref="ElfVersionNeeds.MarkWeak(byte[], string)"/>.</summary>
    public enum WeakVersionPatchResult
    {
        /// <summary>The version need was strong and has been marked weak.</summary>
        Patched,
        /// <summary>The version need was already weak; nothing changed.</summary>
        AlreadyWeak,
        /// <summary>The file declares no need for that version; nothing changed.</summary>
        VersionNotNeeded,
    }

    /// <summary>Reads and edits the GNU symbol-versioning sections of 64-bit little-endian ELF files.</summary>
    public static class ElfVersionNeeds
    {
        /// <summary>VER_FLG_WEAK: a missing version is not fatal for the dynamic loader.</summary>
        public const ushort VerFlagWeak = 0x2;

        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>The version names a library defines (its .gnu.version_d section).</summary>
        /// <exception cref="InvalidDataException">The bytes are not a well-formed 64-bit little-endian ELF file.</exception>
        public static IReadOnlyList<string> DefinedVersions(byte[] elf)
        {
            var names = new List<string>();
            foreach (var section in Sections(elf))
            {
                if (section.Type != ShtGnuVerdef)
                {
                    continue;
                }

                var strings = StringTable(elf, section.Link);
                long entry = section.Offset;
                for (uint i = 0; i < section.Info; i++)
                {
                    Require(elf, entry, 20, "Elf64_Verdef");
                    ushort auxCount = U16(elf, entry + 6);
                    uint aux = U32(elf, entry + 12);
                    uint next = U32(elf, entry + 16);
                    if (auxCount > 0)
                    {
                        long auxAt = entry + aux;
                        Require(elf, auxAt, 8, "Elf64_Verdaux");
                        names.Add(ReadString(elf, strings, U32(elf, auxAt)));
                    }

                    if (next == 0)
                    {
                        break;
                    }

                    entry += next;
                }
            }

            return names;
        }

        /// <summary>
        /// The flags of every (file, version) need in .gnu.version_r, e.g. ("libstdc++.so.6", "GLIBCXX_3.4.32", 0).
        /// </summary>
        /// <exception cref="InvalidDataException">The bytes are not a well-formed 64-bit little-endian ELF file.</exception>
        public static IReadOnlyList<(string File, string Version, ushort Flags)> VersionNeeds(byte[] elf)
        {
            var result = new List<(string, string, ushort)>();
            foreach (var (file, version, flagsOffset) in VersionNeedEntries(elf))
            {
                result.Add((file, version, U16(elf, flagsOffset)));
            }

            return result;
        }

        /// <summary>
        /// Sets VER_FLG_WEAK on every need of <paramref name="version"/> in <paramref name="elf"/>, in memory.
        /// Idempotent: an already weak need, or an absent one, leaves the bytes unchanged.
        /// </summary>
        /// <exception cref="InvalidDataException">The bytes are not a well-formed 64-bit little-endian ELF file.</exception>
        public static WeakVersionPatchResult MarkWeak(byte[] elf, string version)
        {
            var found = false;
            var changed = false;
            foreach (var (_, name, flagsOffset) in VersionNeedEntries(elf))
            {
                if (name != version)
                {
                    continue;
                }

                found = true;
                ushort flags = U16(elf, flagsOffset);
                if ((flags & VerFlagWeak) == 0)
                {
                    ushort weak = (ushort)(flags | VerFlagWeak);
                    elf[flagsOffset] = (byte)(weak & 0xff);
                    elf[flagsOffset + 1] = (byte)(weak >> 8);
                    changed = true;
                }
            }

            return !found ? WeakVersionPatchResult.VersionNotNeeded
                : changed ? WeakVersionPatchResult.Patched
                : WeakVersionPatchResult.AlreadyWeak;
        }

        /// <summary>
        /// Marks <paramref name="version"/> weak in the file at <paramref name="path"/>. The file is replaced atomically
        /// (write to a temporary file beside it, then rename), and only when something changes.
        /// </summary>
        public static WeakVersionPatchResult MarkWeakInFile(string path, string version)
        {
            var bytes = File.ReadAllBytes(path);
            var result = MarkWeak(bytes, version);
            if (result == WeakVersionPatchResult.Patched)
            {
                var temporary = path + ".flowood-tmp";
                File.Copy(path, temporary, overwrite: true); // carries the file mode (the library is executable)
                File.WriteAllBytes(temporary, bytes);
                File.Replace(temporary, path, destinationBackupFileName: null);
            }

            return result;
        }

        /// <summary>
        /// Whether the system's C++ runtime (libstdc++.so.6 as the loader finds it) defines <paramref name="version"/>.
        /// Returns false when no libstdc++ can be found.
        /// </summary>
        public static bool SystemLibStdCxxDefines(string version)
        {
            foreach (var candidate in SystemLibStdCxxCandidates())
            {
                if (!File.Exists(candidate))
                {
                    continue;
                }

                try
                {
                    return ((List<string>)DefinedVersions(File.ReadAllBytes(candidate))).Contains(version);
                }
                catch (InvalidDataException)
                {
                    // Not a 64-bit ELF (e.g. a 32-bit multilib copy): try the next candidate.
                }
            }

            return false;
        }

        private static IEnumerable<string> SystemLibStdCxxCandidates()
        {
            var fromCache = new List<string>();
            try
            {
                var start = new ProcessStartInfo(File.Exists("/sbin/ldconfig") ? "/sbin/ldconfig" : "ldconfig", "-p")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                using var process = Process.Start(start);
                if (process != null)
                {
                    var output = process.StandardOutput.ReadToEnd();
                    process.WaitForExit(10_000);
                    foreach (var line in output.Split('\n'))
                    {
                        var arrow = line.IndexOf("=> ", StringComparison.Ordinal);
#pragma warning disable CA2249 // string.Contains(string, StringComparison) is missing from netstandard2.0, which MSBuild's task compiler targets.
                        if (line.TrimStart().StartsWith("libstdc++.so.6 ", StringComparison.Ordinal) && arrow > 0
                            && line.IndexOf("x86-64", StringComparison.Ordinal) >= 0)
#pragma warning restore CA2249
                        {
                            fromCache.Add(line.Substring(arrow + 3).Trim());
                        }
                    }
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No ldconfig: fall back to the usual locations below.
            }

            foreach (var path in fromCache)
            {
                yield return path;
            }

            yield return "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
            yield return "/lib/x86_64-linux-gnu/libstdc++.so.6";
            yield return "/usr/lib64/libstdc++.so.6";
            yield return "/lib64/libstdc++.so.6";
            yield return "/usr/lib/libstdc++.so.6";
        }

        private readonly struct Section
        {
            public Section(uint type, long offset, long size, uint link, uint info)
            {
                Type = type;
                Offset = offset;
                Size = size;
                Link = link;
                Info = info;
            }

            public uint Type { get; }

            public long Offset { get; }

            public long Size { get; }

            public uint Link { get; }

            public uint Info { get; }
        }

        private static List<(string File, string Version, long FlagsOffset)> VersionNeedEntries(byte[] elf)
        {
            var entries = new List<(string, string, long)>();
            foreach (var section in Sections(elf))
            {
                if (section.Type != ShtGnuVerneed)
                {
                    continue;
                }

                var strings = StringTable(elf, section.Link);
                long need = section.Offset;
                for (uint i = 0; i < section.Info; i++)
                {
                    Require(elf, need, 16, "Elf64_Verneed");
                    ushort count = U16(elf, need + 2);
                    string file = ReadString(elf, strings, U32(elf, need + 4));
                    long aux = need + U32(elf, need + 8);
                    for (int j = 0; j < count; j++)
                    {
                        Require(elf, aux, 16, "Elf64_Vernaux");
                        entries.Add((file, ReadString(elf, strings, U32(elf, aux + 8)), aux + 4));
                        uint auxNext = U32(elf, aux + 12);
                        if (auxNext == 0)
                        {
                            break;
                        }

                        aux += auxNext;
                    }

                    uint next = U32(elf, need + 12);
                    if (next == 0)
                    {
                        break;
                    }

                    need += next;
                }
            }

            return entries;
        }

        private static List<Section> Sections(byte[] elf)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            {
                throw new InvalidDataException("Not an ELF file (bad magic).");
            }

            if (elf[4] != 2 || elf[5] != 1)
            {
                throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
            }

            long sectionHeaders = Position(U64(elf, 0x28));
            ushort entrySize = U16(elf, 0x3a);
            ushort count = U16(elf, 0x3c);
            if (entrySize < 64)
            {
                throw new InvalidDataException($"ELF section header size {entrySize} is smaller than 64 bytes.");
            }

            var sections = new List<Section>(count);
            for (int i = 0; i < count; i++)
            {
                long at = checked(sectionHeaders + ((long)i * entrySize));
                Require(elf, at, 64, "section header");
                var section = new Section(
                    U32(elf, at + 4), Position(U64(elf, at + 24)), Position(U64(elf, at + 32)), U32(elf, at + 40), U32(elf, at + 44));
                sections.Add(section);
            }

            foreach (var section in sections)
            {
                if (section.Type == ShtGnuVerdef || section.Type == ShtGnuVerneed)
                {
                    Require(elf, section.Offset, section.Size, "version section");
                }
            }

            return sections;
        }

        private static Section StringTable(byte[] elf, uint index)
        {
            var sections = Sections(elf);
            if (index >= sections.Count)
            {
                throw new InvalidDataException($"ELF string table index {index} is out of range.");
            }

            var table = sections[(int)index];
            Require(elf, table.Offset, table.Size, "string table");
            return table;
        }

        private static string ReadString(byte[] elf, Section table, uint offset)
        {
            if (offset >= table.Size)
            {
                throw new InvalidDataException($"ELF string offset {offset} is outside its table.");
            }

            long start = table.Offset + offset;
            long end = start;
            long limit = table.Offset + table.Size;
            while (end < limit && elf[end] != 0)
            {
                end++;
            }

            return Encoding.ASCII.GetString(elf, (int)start, (int)(end - start));
        }

        // An offset or size field read from the file, as a long. Values of 2^63 and more lie beyond any byte array; they
        // saturate to long.MaxValue so that Require rejects them with InvalidDataException (a checked cast would throw
        // OverflowException instead), and a section nobody reads (e.g. SHT_NOBITS) may still hold any value.
        private static long Position(ulong value) => value > long.MaxValue ? long.MaxValue : (long)value;

        private static void Require(byte[] elf, long offset, long length, string what)
        {
            if (offset < 0 || length < 0 || offset > elf.Length - length)
            {
                throw new InvalidDataException($"ELF {what} at offset {offset} (+{length} bytes) lies outside the {elf.Length}-byte file.");
            }
        }

        private static ushort U16(byte[] b, long at)
        {
            Require(b, at, 2, "field");
            return (ushort)(b[at] | (b[at + 1] << 8));
        }

        private static uint U32(byte[] b, long at)
        {
            Require(b, at, 4, "field");
            return (uint)(b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24));
        }

        private static ulong U64(byte[] b, long at)
        {
            Require(b, at, 8, "field");
            return U32(b, at) | ((ulong)U32(b, at + 4) << 32);
        }
    }

#if !FLOWOOD_ELF_NO_MSBUILD
    /// <summary>
    /// MSBuild task: marks the <see cref="Version"/> need of each library in <see cref="Libraries"/> weak when the
    /// system's libstdc++ does not define that version. Linux only; a no-op elsewhere and on newer systems.
    /// </summary>
    public sealed class WeakenLibStdCxxVersionNeed : Microsoft.Build.Utilities.Task
    {
        /// <summary>The build-output copies of libLibTorchSharp.so to check.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <summary>The symbol version to weaken.</summary>
        public string Version { get; set; } = "GLIBCXX_3.4.32";

        /// <summary>
        /// False: change nothing, only warn (FLOWOOD0001) when the system's libstdc++ lacks <see cref="Version"/>, so
        /// the application would fail to load libtorch.
        /// </summary>
        public bool Patch { get; set; } = true;

        /// <inheritdoc/>
        public override bool Execute()
        {
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            {
                return true;
            }

            if (ElfVersionNeeds.SystemLibStdCxxDefines(Version))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, $"System libstdc++ defines {Version}; nothing to do.");
                return true;
            }

            if (!Patch)
            {
                Log.LogWarning(null, "FLOWOOD0001", null, null, 0, 0, 0, 0,
                    $"This system's libstdc++ lacks {Version}, which TorchSharp's libLibTorchSharp.so asks for, so libtorch will not load (Debian 12, Ubuntu 22.04). Set <FlowOodPatchLibTorchGlibc>true</FlowOodPatchLibTorchGlibc> in the project to mark that need weak in the build output (see FlowOod's getting-started guide), or run on a newer distribution.");
                return true;
            }

            foreach (var item in Libraries)
            {
                var path = item.ItemSpec;
                if (!File.Exists(path))
                {
                    continue;
                }

                try
                {
                    var result = ElfVersionNeeds.MarkWeakInFile(path, Version);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"{path}: {Version} need {result}.");
                }
                catch (InvalidDataException e)
                {
                    Log.LogWarning($"Could not mark {Version} weak in {path}: {e.Message}");
                }
            }

            return true;
        }
    }
#endif
}
