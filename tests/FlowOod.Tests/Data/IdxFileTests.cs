using System;
using System.IO;
using System.Linq;
using FlowOod.Data;
using FluentAssertions;
using Xunit;

namespace FlowOod.Tests.Data;

public sealed class IdxFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_HandWrittenFile_ReturnsDimensionsAndData(bool gzip)
    {
        var data = IdxBytes.Pattern(3 * 4 * 5);
        var raw = IdxBytes.File([3, 4, 5], data);
        var path = _folder.Write("images", gzip ? IdxBytes.Gzip(raw) : raw);

        var idx = IdxFile.Read(path);

        idx.Dimensions.Should().Equal(3, 4, 5);
        idx.Count.Should().Be(3);
        idx.Data.ToArray().Should().Equal(data);
    }

    [Theory]
    [InlineData(new[] { 7 })]
    [InlineData(new[] { 2, 3 })]
    [InlineData(new[] { 2, 3, 4 })]
    [InlineData(new[] { 2, 1, 3, 2 })]
    public void Write_Raw_ProducesTheStandardBytes(int[] dims)
    {
        var data = IdxBytes.Pattern(dims.Aggregate(1, (a, b) => a * b));
        var path = _folder.Combine("out");

        IdxFile.Write(path, dims, data, gzip: false);

        File.ReadAllBytes(path).Should().Equal(IdxBytes.File(dims, data));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Write_ThenRead_RoundTrips(bool gzip)
    {
        var data = IdxBytes.Pattern(10 * 28 * 28);
        var path = _folder.Combine("round-trip");

        IdxFile.Write(path, [10, 28, 28], data, gzip);
        var idx = IdxFile.Read(path);

        File.ReadAllBytes(path).Take(2).Should().Equal(gzip ? [0x1F, 0x8B] : new byte[] { 0, 0 });
        idx.Dimensions.Should().Equal(10, 28, 28);
        idx.Data.ToArray().Should().Equal(data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_NonSeekableStream_ReturnsDimensionsAndData(bool gzip)
    {
        var data = IdxBytes.Pattern(6);
        var raw = IdxBytes.File([6], data);
        using var stream = new NonSeekableStream(gzip ? IdxBytes.Gzip(raw) : raw);

        var idx = IdxFile.Read(stream, "labels stream");

        idx.Dimensions.Should().Equal(6);
        idx.Data.ToArray().Should().Equal(data);
    }

    [Fact]
    public void Read_StreamAtOffset_ReadsFromCurrentPosition()
    {
        var data = IdxBytes.Pattern(4);
        using var stream = new MemoryStream([0xAA, 0xBB, .. IdxBytes.File([4], data)]);
        stream.Position = 2;

        IdxFile.Read(stream, "offset stream").Data.ToArray().Should().Equal(data);
    }

    [Fact]
    public void Read_UnreadableStream_ThrowsArgumentException()
    {
        using var stream = new FileStream(_folder.Combine("write-only"), FileMode.CreateNew, FileAccess.Write);

        var act = () => IdxFile.Read(stream, "write-only stream");

        act.Should().Throw<ArgumentException>().WithMessage("*write-only stream*not readable*");
    }

    [Fact]
    public void Read_MissingFile_ThrowsFileNotFound()
    {
        var act = () => IdxFile.Read(_folder.Combine("absent"));

        act.Should().Throw<FileNotFoundException>();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_BadMagic_ThrowsNamingFileAndBytes(bool gzip)
    {
        byte[] raw = [0x89, 0x50, 0x08, 0x01, 0, 0, 0, 1, 42];
        var path = _folder.Write("not-idx.png", gzip ? IdxBytes.Gzip(raw) : raw);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*bad magic*0x89 0x50*");
    }

    [Theory]
    [InlineData(0x0D, "float32")]
    [InlineData(0x0C, "int32")]
    [InlineData(0x09, "signed byte")]
    [InlineData(0x42, "not an IDX type")]
    public void Read_UnsupportedTypeCode_ThrowsNamingIt(byte typeCode, string typeName)
    {
        var path = _folder.Write("typed", [.. IdxBytes.Header(typeCode, 2), 0, 0, 0, 0, 0, 0, 0, 0]);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>()
            .WithMessage($"*'{path}'*type code 0x{typeCode:X2} ({typeName}) is not supported; FlowOod reads unsigned-byte IDX files*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(255)]
    public void Read_RankOutsideOneToFour_Throws(int rank)
    {
        var dims = Enumerable.Repeat(1, rank).ToArray();
        var path = _folder.Write("ranked", [.. IdxBytes.Header(0x08, dims), 1]);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*rank {rank} is not supported*1 to 4*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Read_NonPositiveDimension_Throws(int dimension)
    {
        var path = _folder.Write("zero", IdxBytes.Header(0x08, 5, dimension, 3));

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*dimension 1 of 3 is {dimension}*must be positive*");
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(3, false)]
    [InlineData(3, true)]
    public void Read_FileShorterThanFixedHeader_ThrowsTruncatedHeader(int length, bool gzip)
    {
        var raw = new byte[length];
        var path = _folder.Write("short", gzip ? IdxBytes.Gzip(raw) : raw);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*header is truncated*ends after {length} bytes*");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_MissingDimensionSizes_ThrowsTruncatedHeader(bool gzip)
    {
        var raw = IdxBytes.Header(0x08, 10, 28, 28)[..10];
        var path = _folder.Write("short-dims", gzip ? IdxBytes.Gzip(raw) : raw);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>()
            .WithMessage($"*'{path}'*header is truncated*3 dimensions*needs 16 bytes*ends after 10*");
    }

    [Fact]
    public void Read_RawDataTruncated_ThrowsWithExpectedAndActualSizes()
    {
        var path = _folder.Write("truncated", IdxBytes.File([2, 3, 3], IdxBytes.Pattern(17)));

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>()
            .WithMessage($"*'{path}'*data is truncated*[2, 3, 3] need 16 + 18 = 34 bytes*file has 33*");
    }

    [Fact]
    public void Read_RawTrailingData_ThrowsWithExpectedAndActualSizes()
    {
        var path = _folder.Write("trailing", IdxBytes.File([2, 3, 3], IdxBytes.Pattern(20)));

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>()
            .WithMessage($"*'{path}'*2 bytes of trailing data*[2, 3, 3] need 16 + 18 = 34 bytes*file has 36*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Read_DataTruncatedInStreamOfUnknownLength_Throws(bool gzip)
    {
        var raw = IdxBytes.File([4, 5], IdxBytes.Pattern(19));
        var path = _folder.Write("truncated.gz", gzip ? IdxBytes.Gzip(raw) : raw);
        using var stream = new NonSeekableStream(File.ReadAllBytes(path));

        var fromFile = () => IdxFile.Read(path);
        var fromStream = () => IdxFile.Read(stream, "truncated stream");

        if (gzip)
        {
            fromFile.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*data is truncated*[4, 5] need 20 bytes*ends after 19*");
        }

        fromStream.Should().Throw<IdxFormatException>().WithMessage("*'truncated stream'*data is truncated*[4, 5] need 20 bytes*ends after 19*");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Read_TrailingDataInStreamOfUnknownLength_Throws(bool gzip)
    {
        var raw = IdxBytes.File([4, 5], IdxBytes.Pattern(21));
        var path = _folder.Write("trailing.gz", gzip ? IdxBytes.Gzip(raw) : raw);
        using var stream = new NonSeekableStream(File.ReadAllBytes(path));

        var fromFile = () => IdxFile.Read(path);
        var fromStream = () => IdxFile.Read(stream, "trailing stream");

        if (gzip)
        {
            fromFile.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*trailing data*20 bytes*[4, 5]*");
        }

        fromStream.Should().Throw<IdxFormatException>().WithMessage("*'trailing stream'*trailing data*20 bytes*[4, 5]*");
    }

    [Fact]
    public void Read_GzipWithCorruptDeflateData_ThrowsWrappingTheGzipError()
    {
        var gzip = IdxBytes.Gzip(IdxBytes.File([200], IdxBytes.Pattern(200)));
        for (var i = 10; i < gzip.Length - 8; i++)
        {
            gzip[i] ^= 0xFF;
        }

        var path = _folder.Write("corrupt.gz", gzip);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*not a valid gzip stream*")
            .WithInnerException<InvalidDataException>();
    }

    [Fact]
    public void Read_GzipWithWrongChecksum_ThrowsWrappingTheGzipError()
    {
        var gzip = IdxBytes.Gzip(IdxBytes.File([200], IdxBytes.Pattern(200)));
        gzip[^8] ^= 0x01;
        var path = _folder.Write("bad-crc.gz", gzip);

        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*not a valid gzip stream*");
    }

    [Fact]
    public void Read_RawHeaderClaimingAbsurdSize_ThrowsQuicklyWithoutAllocating()
    {
        var path = _folder.Write("absurd", [.. IdxBytes.Header(0x08, 60000, 60000, 60000), 1, 2, 3]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*[60000, 60000, 60000], more than the * elements*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Read_RawHeaderLargerThanFile_ThrowsBeforeAllocating()
    {
        var path = _folder.Write("claims-60000", [.. IdxBytes.Header(0x08, 60000, 28, 28), 1, 2, 3]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>().WithMessage($"*'{path}'*data is truncated*47040000 = 47040016 bytes*file has 19*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Read_GzipHeaderClaimingMoreThanDeflateCanExpand_ThrowsBeforeAllocating()
    {
        var gzip = IdxBytes.Gzip([.. IdxBytes.Header(0x08, 60000, 28, 28), 1, 2, 3]);
        var path = _folder.Write("claims-60000.gz", gzip);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => IdxFile.Read(path);

        act.Should().Throw<IdxFormatException>()
            .WithMessage($"*'{path}'*[60000, 28, 28] = 47040000 bytes of data, more than a {gzip.Length}-byte gzip stream can hold*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Fact]
    public void Read_GzipStreamOfUnknownLengthClaimingHugeSize_AllocatesOnlyWhatArrives()
    {
        using var stream = new NonSeekableStream(IdxBytes.Gzip([.. IdxBytes.Header(0x08, 2_000_000_000), 1, 2, 3]));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => IdxFile.Read(stream, "hostile stream");

        act.Should().Throw<IdxFormatException>().WithMessage("*'hostile stream'*data is truncated*need 2000000000 bytes*ends after 3*");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(4 << 20);
    }

    [Fact]
    public void Read_LargeStreamOfUnknownLength_GrowsBufferToFit()
    {
        var data = IdxBytes.Pattern(3 << 20);
        using var stream = new NonSeekableStream(IdxBytes.Gzip(IdxBytes.File([3, 1024, 1024], data)));

        IdxFile.Read(stream, "large stream").Data.ToArray().Should().Equal(data);
    }

    [Theory]
    [InlineData(new int[0])]
    [InlineData(new[] { 1, 1, 1, 1, 1 })]
    [InlineData(new[] { 3, 0 })]
    [InlineData(new[] { -3 })]
    public void Write_InvalidDimensions_ThrowsAndCreatesNothing(int[] dims)
    {
        var path = _folder.Combine("invalid");

        var act = () => IdxFile.Write(path, dims, [1, 2, 3], gzip: false);

        act.Should().Throw<ArgumentException>().WithMessage("*1 to 4 positive dimensions*").Which.ParamName.Should().Be("dimensions");
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().BeEmpty();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Write_DataLengthMismatch_DoesNotCreateTarget(bool gzip)
    {
        var path = _folder.Combine("mismatch");

        var act = () => IdxFile.Write(path, [2, 28, 28], new byte[1000], gzip);

        act.Should().Throw<ArgumentException>().WithMessage("*[2, 28, 28] need 1568 bytes of data, got 1000*");
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().BeEmpty();
    }

    [Fact]
    public void Write_DataLengthMismatch_LeavesExistingTargetIntact()
    {
        var original = IdxBytes.File([3], [1, 2, 3]);
        var path = _folder.Write("existing", original);

        var act = () => IdxFile.Write(path, [60000, 60000, 60000], [1, 2, 3], gzip: true);

        act.Should().Throw<ArgumentException>().WithMessage("*more than * bytes of data, got 3*");
        File.ReadAllBytes(path).Should().Equal(original);
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().ContainSingle();
    }

    [Fact]
    public void Write_ExistingTarget_ReplacesItAndLeavesNoTemporaryFile()
    {
        var path = _folder.Write("existing", IdxBytes.File([3], [1, 2, 3]));

        IdxFile.Write(path, [2], [9, 8], gzip: false);

        File.ReadAllBytes(path).Should().Equal(IdxBytes.File([2], [9, 8]));
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().Equal(path);
    }

    [Fact]
    public void Write_FolderMissing_ThrowsAndCreatesNothing()
    {
        var path = _folder.Combine("no-such-folder", "out");

        var act = () => IdxFile.Write(path, [2], [9, 8], gzip: false);

        act.Should().Throw<DirectoryNotFoundException>();
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().BeEmpty();
    }

    [Fact]
    public void Write_TargetIsAFolder_FailsAndRemovesTemporaryFile()
    {
        var path = _folder.Combine("occupied");
        Directory.CreateDirectory(path);

        var act = () => IdxFile.Write(path, [2], [9, 8], gzip: false);

        act.Should().Throw<IOException>();
        Directory.EnumerateFileSystemEntries(_folder.Path).Should().Equal(path);
    }
}
