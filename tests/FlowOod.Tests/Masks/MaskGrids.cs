using System.Linq;
using System.Text;
using FlowOod.Masks;
using FluentAssertions;

namespace FlowOod.Tests.Masks;

// Renders an image mask [C, H, W] as rows of characters so expected layouts can be written literally:
// 'C' = conditioning (true in Condition), 'T' = transformed, '.' = neither (passed through unseen).
internal static class MaskGrids
{
    public static string[] Render(CouplingMask mask, long channel)
    {
        mask.EventShape.Should().HaveCount(3, "grids render image masks [C, H, W]");
        long h = mask.EventShape[1], w = mask.EventShape[2];
        var condition = mask.Condition.ToArray();
        var transform = mask.Transform.ToArray();
        var rows = new string[h];
        for (long i = 0; i < h; i++)
        {
            var row = new StringBuilder();
            for (long j = 0; j < w; j++)
            {
                var at = (channel * h * w) + (i * w) + j;
                row.Append(condition[at] ? 'C' : transform[at] ? 'T' : '.');
            }

            rows[i] = row.ToString();
        }

        return rows;
    }

    // Asserts that every channel of the mask has the layout `expected`.
    public static void ShouldHaveLayoutInEveryChannel(this CouplingMask mask, params string[] expected)
    {
        for (long c = 0; c < mask.EventShape[0]; c++)
        {
            Render(mask, c).Should().Equal(expected, $"channel {c} of the mask over [{string.Join(", ", mask.EventShape)}]");
        }
    }

    public static void ShouldBeDisjoint(this CouplingMask mask)
    {
        mask.Condition.ToArray().Zip(mask.Transform.ToArray()).Should().NotContain(p => p.First && p.Second);
    }

    public static bool SameLayout(CouplingMask a, CouplingMask b) =>
        a.EventShape.SequenceEqual(b.EventShape)
        && a.Condition.ToArray().SequenceEqual(b.Condition.ToArray())
        && a.Transform.ToArray().SequenceEqual(b.Transform.ToArray());
}
