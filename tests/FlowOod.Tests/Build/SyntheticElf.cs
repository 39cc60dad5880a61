using System;
using System.Buffers.Binary;
using System.Text;

namespace FlowOod.Tests.Build;

// A minimal 64-bit little-endian ELF file with a .dynstr, a .gnu.version_r and a .gnu.version_d section, built byte by
// byte so the tests know every offset. Layout:
//   0x000  ELF header (64 bytes)
//   0x040  .dynstr  "\0libstdc++.so.6\0GLIBCXX_3.4.32\0GLIBCXX_3.4.30\0" (46 bytes)
//   0x070  .gnu.version_r: one Elf64_Verneed + two Elf64_Vernaux (48 bytes)
//   0x0A0  .gnu.version_d: two Elf64_Verdef, each followed by one Elf64_Verdaux (56 bytes)
//   0x0D8  section header table: null, .dynstr, .gnu.version_r, .gnu.version_d (4 × 64 bytes)
internal static class SyntheticElf
{
    public const string Library = "libstdc++.so.6";
    public const string NewVersion = "GLIBCXX_3.4.32";
    public const string OldVersion = "GLIBCXX_3.4.30";

    public const int DynStrOffset = 0x40;
    public const int DynStrSize = 46;
    public const uint LibraryName = 1;
    public const uint NewVersionName = 16;
    public const uint OldVersionName = 31;

    public const int VerneedOffset = 0x70;
    public const int VerneedSize = 48;
    public const int NewVernauxOffset = VerneedOffset + 16;
    public const int OldVernauxOffset = VerneedOffset + 32;
    public const int NewFlagsOffset = NewVernauxOffset + 4;
    public const int OldFlagsOffset = OldVernauxOffset + 4;

    // vna_other has bit 0x2 set on purpose: an earlier version of the patch step read vna_other as the flags and
    // reported the need as already weak.
    public const ushort VnaOther = 18;

    public const int VerdefOffset = 0xA0;
    public const int VerdefSize = 56;

    public const int SectionHeadersOffset = 0xD8;
    public const int SectionCount = 4;
    public const int DynStrIndex = 1;
    public const int VerneedIndex = 2;
    public const int VerdefIndex = 3;
    public const int Length = SectionHeadersOffset + (SectionCount * 64);

    public const uint ShtStrtab = 3;
    public const uint ShtGnuVerdef = 0x6ffffffd;
    public const uint ShtGnuVerneed = 0x6ffffffe;

    public static int SectionHeader(int index) => SectionHeadersOffset + (index * 64);

    public static byte[] Build(ushort newFlags = 0, ushort oldFlags = 0)
    {
        var elf = new byte[Length];

        // Elf64_Ehdr
        elf[0] = 0x7f;
        elf[1] = (byte)'E';
        elf[2] = (byte)'L';
        elf[3] = (byte)'F';
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // ELFDATA2LSB
        elf[6] = 1; // EV_CURRENT
        U16(elf, 0x10, 3); // e_type = ET_DYN
        U16(elf, 0x12, 62); // e_machine = EM_X86_64
        U32(elf, 0x14, 1); // e_version
        U64(elf, 0x28, SectionHeadersOffset); // e_shoff
        U16(elf, 0x34, 64); // e_ehsize
        U16(elf, 0x3a, 64); // e_shentsize
        U16(elf, 0x3c, SectionCount); // e_shnum
        U16(elf, 0x3e, 0); // e_shstrndx = SHN_UNDEF

        // .dynstr
        var strings = Encoding.ASCII.GetBytes("\0" + Library + "\0" + NewVersion + "\0" + OldVersion + "\0");
        if (strings.Length != DynStrSize)
        {
            throw new InvalidOperationException("The synthetic string table layout is out of date.");
        }

        strings.CopyTo(elf, DynStrOffset);

        // .gnu.version_r: Elf64_Verneed
        U16(elf, VerneedOffset + 0, 1); // vn_version
        U16(elf, VerneedOffset + 2, 2); // vn_cnt
        U32(elf, VerneedOffset + 4, LibraryName); // vn_file
        U32(elf, VerneedOffset + 8, 16); // vn_aux
        U32(elf, VerneedOffset + 12, 0); // vn_next
        Vernaux(elf, NewVernauxOffset, 0x08922974, newFlags, VnaOther, NewVersionName, next: 16);
        Vernaux(elf, OldVernauxOffset, 0x08922970, oldFlags, 3, OldVersionName, next: 0);

        // .gnu.version_d: the base definition (the soname) and one version.
        Verdef(elf, VerdefOffset, flags: 1, index: 1, LibraryName, next: 28);
        Verdef(elf, VerdefOffset + 28, flags: 0, index: 2, OldVersionName, next: 0);

        // Section headers (index 0 stays all zero: SHN_UNDEF).
        SectionHeaderEntry(elf, DynStrIndex, ShtStrtab, DynStrOffset, DynStrSize, link: 0, info: 0);
        SectionHeaderEntry(elf, VerneedIndex, ShtGnuVerneed, VerneedOffset, VerneedSize, link: DynStrIndex, info: 1);
        SectionHeaderEntry(elf, VerdefIndex, ShtGnuVerdef, VerdefOffset, VerdefSize, link: DynStrIndex, info: 2);
        return elf;
    }

    public static ushort ReadU16(byte[] elf, int at) => BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(at));

    public static void U16(byte[] elf, int at, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(at), value);

    public static void U32(byte[] elf, int at, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(at), value);

    public static void U64(byte[] elf, int at, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(at), value);

    private static void Vernaux(byte[] elf, int at, uint hash, ushort flags, ushort other, uint name, uint next)
    {
        U32(elf, at + 0, hash); // vna_hash
        U16(elf, at + 4, flags); // vna_flags
        U16(elf, at + 6, other); // vna_other
        U32(elf, at + 8, name); // vna_name
        U32(elf, at + 12, next); // vna_next
    }

    private static void Verdef(byte[] elf, int at, ushort flags, ushort index, uint name, uint next)
    {
        U16(elf, at + 0, 1); // vd_version
        U16(elf, at + 2, flags); // vd_flags
        U16(elf, at + 4, index); // vd_ndx
        U16(elf, at + 6, 1); // vd_cnt
        U32(elf, at + 8, 0x1234567); // vd_hash
        U32(elf, at + 12, 20); // vd_aux: the Elf64_Verdaux follows the 20-byte Elf64_Verdef
        U32(elf, at + 16, next); // vd_next
        U32(elf, at + 20, name); // vda_name
        U32(elf, at + 24, 0); // vda_next
    }

    private static void SectionHeaderEntry(byte[] elf, int index, uint type, ulong offset, ulong size, uint link, uint info)
    {
        var at = SectionHeader(index);
        U32(elf, at + 4, type); // sh_type
        U64(elf, at + 24, offset); // sh_offset
        U64(elf, at + 32, size); // sh_size
        U32(elf, at + 40, link); // sh_link
        U32(elf, at + 44, info); // sh_info
        U64(elf, at + 48, type == ShtStrtab ? 1UL : 8UL); // sh_addralign
    }
}
