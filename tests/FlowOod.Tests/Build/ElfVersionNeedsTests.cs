using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FlowOod.Build;
using FlowOod.Tests.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Build;

public sealed class ElfVersionNeedsTests : IDisposable
{
    private const string TorchSharpLibrary = "libLibTorchSharp.so";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void MarkWeak_StrongNeed_SetsOnlyTheTwoFlagBytesOfThatEntry()
    {
        var original = SyntheticElf.Build();
        var elf = (byte[])original.Clone();

        var result = ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion);

        result.Should().Be(WeakVersionPatchResult.Patched);
        SyntheticElf.ReadU16(elf, SyntheticElf.NewFlagsOffset).Should().Be(ElfVersionNeeds.VerFlagWeak);
        var changed = Enumerable.Range(0, elf.Length).Where(i => elf[i] != original[i]).ToArray();
        changed.Should().BeSubsetOf([SyntheticElf.NewFlagsOffset, SyntheticElf.NewFlagsOffset + 1]);
        changed.Should().NotBeEmpty();
    }

    [Fact]
    public void MarkWeak_VnaOtherHasTheWeakBit_StillPatchesTheFlagsField()
    {
        // Regression: vna_other (here 18 = 0x12) was once read as the flags, so the need looked weak already.
        var elf = SyntheticElf.Build();
        (SyntheticElf.VnaOther & ElfVersionNeeds.VerFlagWeak).Should().NotBe(0, "the synthetic file must exercise the bug");

        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion).Should().Be(WeakVersionPatchResult.Patched);

        SyntheticElf.ReadU16(elf, SyntheticElf.NewFlagsOffset).Should().Be(ElfVersionNeeds.VerFlagWeak);
        SyntheticElf.ReadU16(elf, SyntheticElf.NewVernauxOffset + 6).Should().Be(SyntheticElf.VnaOther);
    }

    [Fact]
    public void MarkWeak_OtherFlagsSet_KeepsThemAndAddsWeak()
    {
        const ushort verFlagInfo = 0x4;
        var elf = SyntheticElf.Build(newFlags: verFlagInfo);

        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion).Should().Be(WeakVersionPatchResult.Patched);

        SyntheticElf.ReadU16(elf, SyntheticElf.NewFlagsOffset).Should().Be(verFlagInfo | ElfVersionNeeds.VerFlagWeak);
    }

    [Fact]
    public void MarkWeak_SecondCall_ReturnsAlreadyWeakAndChangesNothing()
    {
        var elf = SyntheticElf.Build();
        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion);
        var afterFirst = (byte[])elf.Clone();

        var result = ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion);

        result.Should().Be(WeakVersionPatchResult.AlreadyWeak);
        elf.Should().Equal(afterFirst);
    }

    [Fact]
    public void MarkWeak_AbsentVersion_ReturnsVersionNotNeededAndChangesNothing()
    {
        var original = SyntheticElf.Build();
        var elf = (byte[])original.Clone();

        var result = ElfVersionNeeds.MarkWeak(elf, "GLIBCXX_3.4.99");

        result.Should().Be(WeakVersionPatchResult.VersionNotNeeded);
        elf.Should().Equal(original);
    }

    [Fact]
    public void MarkWeak_VersionOnlyDefinedNotNeeded_ReturnsVersionNotNeeded()
    {
        // The soname is a string in .dynstr and a .gnu.version_d name, but not a version need.
        var original = SyntheticElf.Build();
        var elf = (byte[])original.Clone();

        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.Library).Should().Be(WeakVersionPatchResult.VersionNotNeeded);

        elf.Should().Equal(original);
    }

    [Fact]
    public void MarkWeak_OneVersion_LeavesTheOtherEntryUntouched()
    {
        var elf = SyntheticElf.Build();

        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion);

        SyntheticElf.ReadU16(elf, SyntheticElf.OldFlagsOffset).Should().Be(0);
        ElfVersionNeeds.VersionNeeds(elf).Should().Equal(
            (SyntheticElf.Library, SyntheticElf.NewVersion, ElfVersionNeeds.VerFlagWeak),
            (SyntheticElf.Library, SyntheticElf.OldVersion, (ushort)0));
    }

    [Fact]
    public void VersionNeeds_SyntheticFile_ListsEveryNeedWithItsFlags()
    {
        var elf = SyntheticElf.Build(newFlags: 0, oldFlags: ElfVersionNeeds.VerFlagWeak);

        ElfVersionNeeds.VersionNeeds(elf).Should().Equal(
            (SyntheticElf.Library, SyntheticElf.NewVersion, (ushort)0),
            (SyntheticElf.Library, SyntheticElf.OldVersion, ElfVersionNeeds.VerFlagWeak));
    }

    [Fact]
    public void DefinedVersions_SyntheticFile_ListsEveryDefinition()
    {
        ElfVersionNeeds.DefinedVersions(SyntheticElf.Build()).Should().Equal(SyntheticElf.Library, SyntheticElf.OldVersion);
    }

    [Fact]
    public void DefinedVersions_NoVerdefSection_ReturnsEmpty()
    {
        var elf = SyntheticElf.Build();
        SyntheticElf.U32(elf, SyntheticElf.SectionHeader(SyntheticElf.VerdefIndex) + 4, 1); // SHT_PROGBITS

        ElfVersionNeeds.DefinedVersions(elf).Should().BeEmpty();
        ElfVersionNeeds.VersionNeeds(elf).Should().HaveCount(2);
    }

    [Fact]
    public void VersionNeeds_NoVerneedSection_ReturnsEmptyAndMarkWeakFindsNothing()
    {
        var elf = SyntheticElf.Build();
        SyntheticElf.U32(elf, SyntheticElf.SectionHeader(SyntheticElf.VerneedIndex) + 4, 1); // SHT_PROGBITS
        var original = (byte[])elf.Clone();

        ElfVersionNeeds.VersionNeeds(elf).Should().BeEmpty();
        ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion).Should().Be(WeakVersionPatchResult.VersionNotNeeded);
        elf.Should().Equal(original);
    }

    public static TheoryData<string> MalformedFiles() =>
    [
        "bad magic",
        "32-bit class",
        "big-endian",
        "shorter than the ELF header",
        "truncated section header table",
        "section count past the end",
        "section header table past the end",
        "section header offset above long.MaxValue",
        "section header entry size below 64",
        "verneed offset beyond the file",
        "verneed offset above long.MaxValue",
        "verneed size beyond the file",
        "verneed size above long.MaxValue",
        "verdef offset beyond the file",
        "string table offset beyond the file",
        "string table size above long.MaxValue",
        "string table link out of range",
    ];

    public static TheoryData<string> MalformedNeeds() =>
    [
        "vn_file outside its table",
        "vna_name outside its table",
        "vn_aux past the end",
        "vna_next past the end",
        "vn_next past the end",
        "sh_info huge with vn_next walking into garbage",
        "vn_cnt huge with vna_next walking into garbage",
    ];

    public static TheoryData<string> MalformedDefinitions() =>
    [
        "vda_name outside its table",
        "vd_aux past the end",
        "vd_next past the end",
        "verdef sh_info huge with vd_next walking into garbage",
    ];

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    [MemberData(nameof(MalformedNeeds))]
    public void MarkWeak_MalformedFile_ThrowsInvalidDataAndChangesNothing(string defect)
    {
        var elf = Malformed(defect);
        var original = (byte[])elf.Clone();

        var act = () => ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion);

        act.Should().Throw<InvalidDataException>().Which.GetType().Should().Be<InvalidDataException>();
        elf.Should().Equal(original);
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    [MemberData(nameof(MalformedNeeds))]
    public void VersionNeeds_MalformedFile_ThrowsInvalidData(string defect)
    {
        var elf = Malformed(defect);

        var act = () => ElfVersionNeeds.VersionNeeds(elf);

        act.Should().Throw<InvalidDataException>().Which.GetType().Should().Be<InvalidDataException>();
    }

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    [MemberData(nameof(MalformedDefinitions))]
    public void DefinedVersions_MalformedFile_ThrowsInvalidData(string defect)
    {
        var elf = Malformed(defect);

        var act = () => ElfVersionNeeds.DefinedVersions(elf);

        act.Should().Throw<InvalidDataException>().Which.GetType().Should().Be<InvalidDataException>();
    }

    [Fact]
    public void MarkWeak_RandomSingleByteMutations_SucceedOrThrowInvalidData()
    {
        var random = new Random(20_107);
        var pristine = SyntheticElf.Build();
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>();
        for (int trial = 0; trial < 200; trial++)
        {
            var elf = (byte[])pristine.Clone();
            var at = random.Next(elf.Length);
            elf[at] = (byte)(elf[at] ^ random.Next(1, 256));
            var mutated = (byte[])elf.Clone();

            Attempt(() => ElfVersionNeeds.MarkWeak(elf, SyntheticElf.NewVersion).ToString());
            Attempt(() => ElfVersionNeeds.VersionNeeds(mutated).Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Attempt(() => ElfVersionNeeds.DefinedVersions(mutated).Count.ToString(System.Globalization.CultureInfo.InvariantCulture));

            void Attempt(Func<string> parse)
            {
                string outcome;
                try
                {
                    outcome = parse();
                }
                catch (InvalidDataException)
                {
                    outcome = nameof(InvalidDataException);
                }
#pragma warning disable CA1031 // The point of the test is to catch every other exception type.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    failures.Add($"byte 0x{at:X3} := 0x{mutated[at]:X2}: {e.GetType().Name}: {e.Message}");
                    return;
                }

                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        }

        failures.Should().BeEmpty();
        outcomes.Should().ContainKey(nameof(InvalidDataException), "some mutations must hit the parsed structures");
        outcomes.Should().ContainKey(nameof(WeakVersionPatchResult.Patched));
    }

    [Fact]
    public void MarkWeakInFile_StrongNeed_WritesPatchedBytesAndLeavesNoTemporaryFile()
    {
        var expected = SyntheticElf.Build();
        ElfVersionNeeds.MarkWeak(expected, SyntheticElf.NewVersion);
        var path = _folder.Write(TorchSharpLibrary, SyntheticElf.Build());

        var result = ElfVersionNeeds.MarkWeakInFile(path, SyntheticElf.NewVersion);

        result.Should().Be(WeakVersionPatchResult.Patched);
        File.ReadAllBytes(path).Should().Equal(expected);
        Directory.GetFileSystemEntries(_folder.Path).Should().Equal(path);
    }

    [Theory]
    [InlineData(ElfVersionNeeds.VerFlagWeak, SyntheticElf.NewVersion, WeakVersionPatchResult.AlreadyWeak)]
    [InlineData(0, "GLIBCXX_3.4.99", WeakVersionPatchResult.VersionNotNeeded)]
    public void MarkWeakInFile_NothingToChange_DoesNotRewriteTheFile(ushort newFlags, string version, WeakVersionPatchResult expected)
    {
        var bytes = SyntheticElf.Build(newFlags: newFlags);
        var path = _folder.Write(TorchSharpLibrary, bytes);
        var stamp = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);

        var result = ElfVersionNeeds.MarkWeakInFile(path, version);

        result.Should().Be(expected);
        File.ReadAllBytes(path).Should().Equal(bytes);
        File.GetLastWriteTimeUtc(path).Should().Be(stamp);
        Directory.GetFileSystemEntries(_folder.Path).Should().Equal(path);
    }

    [Fact]
    public void MarkWeakInFile_MalformedFile_ThrowsAndLeavesTheFileAlone()
    {
        var bytes = Malformed("vn_aux past the end");
        var path = _folder.Write(TorchSharpLibrary, bytes);

        var act = () => ElfVersionNeeds.MarkWeakInFile(path, SyntheticElf.NewVersion);

        act.Should().Throw<InvalidDataException>();
        File.ReadAllBytes(path).Should().Equal(bytes);
        Directory.GetFileSystemEntries(_folder.Path).Should().Equal(path);
    }

    [Fact]
    public void SystemLibStdCxxDefines_OnLinux_FindsTheBaseVersionButNotAnInventedOne()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // The check only runs on Linux; elsewhere the build step is a no-op.
        }

        // Every libstdc++.so.6 defines GLIBCXX_3.4, and this test process itself runs TorchSharp's C++ natives.
        ElfVersionNeeds.SystemLibStdCxxDefines("GLIBCXX_3.4").Should().BeTrue();
        ElfVersionNeeds.SystemLibStdCxxDefines("GLIBCXX_99.0").Should().BeFalse();
    }

    [Fact]
    public void BuildOutput_LibLibTorchSharp_IsWeakExactlyWhenTheSystemLacksTheVersion()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // The build step only runs on Linux.
        }

        var copies = new[]
        {
            Path.Combine(AppContext.BaseDirectory, TorchSharpLibrary),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", TorchSharpLibrary),
        }.Where(File.Exists).ToList();
        copies.Should().NotBeEmpty("the test project's build output must contain TorchSharp's native library");

        var systemDefines = ElfVersionNeeds.SystemLibStdCxxDefines(SyntheticElf.NewVersion);
        foreach (var copy in copies)
        {
            var needs = ElfVersionNeeds.VersionNeeds(File.ReadAllBytes(copy))
                .Where(n => n.Version == SyntheticElf.NewVersion).ToList();
            needs.Should().ContainSingle(copy).Which.File.Should().Be(SyntheticElf.Library);
            if (systemDefines)
            {
                needs[0].Flags.Should().Be(0, $"the system libstdc++ defines {SyntheticElf.NewVersion}, so {copy} must be left untouched");
            }
            else
            {
                needs[0].Flags.Should().Be(ElfVersionNeeds.VerFlagWeak, $"the system libstdc++ lacks {SyntheticElf.NewVersion}, so the build step must weaken {copy}");
            }
        }
    }

    [Fact]
    public void NuGetCache_LibLibTorchSharp_IsNeverPatched()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // The build step only runs on Linux.
        }

        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(packages))
        {
            packages = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        }

        var cached = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", TorchSharpLibrary);
        if (!File.Exists(cached))
        {
            return; // Restore always puts it there on CI; a build pointed at another cache has nothing to check here.
        }

        var needs = ElfVersionNeeds.VersionNeeds(File.ReadAllBytes(cached)).Where(n => n.Version == SyntheticElf.NewVersion);

        needs.Should().ContainSingle().Which.Flags.Should().Be(0, "the build step must patch the build-output copy only, never the NuGet cache");
    }

    private static byte[] Malformed(string defect)
    {
        var elf = SyntheticElf.Build();
        var verneedHeader = SyntheticElf.SectionHeader(SyntheticElf.VerneedIndex);
        var verdefHeader = SyntheticElf.SectionHeader(SyntheticElf.VerdefIndex);
        var dynstrHeader = SyntheticElf.SectionHeader(SyntheticElf.DynStrIndex);
        const ulong aboveLongMax = 0x8000_0000_0000_0000;
        switch (defect)
        {
            case "bad magic":
                elf[1] = (byte)'X';
                break;
            case "32-bit class":
                elf[4] = 1;
                break;
            case "big-endian":
                elf[5] = 2;
                break;
            case "shorter than the ELF header":
                return elf[..40];
            case "truncated section header table":
                return elf[..(SyntheticElf.Length - 10)];
            case "section count past the end":
                SyntheticElf.U16(elf, 0x3c, SyntheticElf.SectionCount + 1);
                break;
            case "section header table past the end":
                SyntheticElf.U64(elf, 0x28, SyntheticElf.Length);
                break;
            case "section header offset above long.MaxValue":
                SyntheticElf.U64(elf, 0x28, aboveLongMax);
                break;
            case "section header entry size below 64":
                SyntheticElf.U16(elf, 0x3a, 40);
                break;
            case "verneed offset beyond the file":
                SyntheticElf.U64(elf, verneedHeader + 24, 10_000);
                break;
            case "verneed offset above long.MaxValue":
                SyntheticElf.U64(elf, verneedHeader + 24, ulong.MaxValue);
                break;
            case "verneed size beyond the file":
                SyntheticElf.U64(elf, verneedHeader + 32, SyntheticElf.Length);
                break;
            case "verneed size above long.MaxValue":
                SyntheticElf.U64(elf, verneedHeader + 32, aboveLongMax);
                break;
            case "verdef offset beyond the file":
                SyntheticElf.U64(elf, verdefHeader + 24, 10_000);
                break;
            case "string table offset beyond the file":
                SyntheticElf.U64(elf, dynstrHeader + 24, 10_000);
                break;
            case "string table size above long.MaxValue":
                SyntheticElf.U64(elf, dynstrHeader + 32, aboveLongMax);
                break;
            case "string table link out of range":
                SyntheticElf.U32(elf, verneedHeader + 40, 9);
                SyntheticElf.U32(elf, verdefHeader + 40, 9);
                break;
            case "vn_file outside its table":
                SyntheticElf.U32(elf, SyntheticElf.VerneedOffset + 4, SyntheticElf.DynStrSize);
                break;
            case "vna_name outside its table":
                SyntheticElf.U32(elf, SyntheticElf.NewVernauxOffset + 8, 1000);
                break;
            case "vn_aux past the end":
                SyntheticElf.U32(elf, SyntheticElf.VerneedOffset + 8, 0xFFFF_FFF0);
                break;
            case "vna_next past the end":
                SyntheticElf.U32(elf, SyntheticElf.NewVernauxOffset + 12, (uint)SyntheticElf.Length);
                break;
            case "vn_next past the end":
                SyntheticElf.U32(elf, verneedHeader + 44, 2);
                SyntheticElf.U32(elf, SyntheticElf.VerneedOffset + 12, (uint)SyntheticElf.Length);
                break;
            case "sh_info huge with vn_next walking into garbage":
                SyntheticElf.U32(elf, verneedHeader + 44, uint.MaxValue);
                SyntheticElf.U32(elf, SyntheticElf.VerneedOffset + 12, 1);
                break;
            case "vn_cnt huge with vna_next walking into garbage":
                SyntheticElf.U16(elf, SyntheticElf.VerneedOffset + 2, ushort.MaxValue);
                SyntheticElf.U32(elf, SyntheticElf.OldVernauxOffset + 12, 1);
                break;
            case "vda_name outside its table":
                SyntheticElf.U32(elf, SyntheticElf.VerdefOffset + 20, SyntheticElf.DynStrSize);
                break;
            case "vd_aux past the end":
                SyntheticElf.U32(elf, SyntheticElf.VerdefOffset + 12, 0xFFFF_FFF0);
                break;
            case "vd_next past the end":
                SyntheticElf.U32(elf, SyntheticElf.VerdefOffset + 16, (uint)SyntheticElf.Length);
                break;
            case "verdef sh_info huge with vd_next walking into garbage":
                SyntheticElf.U32(elf, verdefHeader + 44, uint.MaxValue);
                SyntheticElf.U32(elf, SyntheticElf.VerdefOffset + 28 + 16, 1);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(defect), defect, "Unknown defect.");
        }

        return elf;
    }
}
