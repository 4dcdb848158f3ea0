"""``python -m nas.summary --space NAME --preset seed``: a preset's layer table, no training.

Prints each layer's name, type, output shape and parameters, then ``Total params: N``,
``MACs per image: N``, ``Receptive field: R`` and whether the space's rules hold.
"""

from __future__ import annotations

import argparse
import sys

from search_spaces import SPACES, get_space
from search_spaces.rules import check
from trainables.models.analysis import Analysis, layer_rows


def layer_table(analysis: Analysis) -> str:
    """The analysis as a torchsummary-style table with the totals below it."""
    rows = [(*row[:3], f"{row[3]:,}") for row in layer_rows(analysis)]
    header = ("Layer", "Type", "Output shape", "Params")
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    rule = "-" * (sum(widths) + 3 * (len(widths) - 1))

    def line(cells) -> str:
        *left, right = cells
        return (
            "   ".join(c.ljust(w) for c, w in zip(left, widths, strict=False))
            + "   "
            + (right.rjust(widths[-1]))
        )

    return "\n".join(
        [
            line(header),
            rule,
            *map(line, rows),
            rule,
            f"Total params: {analysis.params:,}",
            f"MACs per image: {analysis.macs:,}",
            f"Receptive field: {analysis.receptive_field:,}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nas.summary", description=__doc__.splitlines()[0])
    p.add_argument("--space", required=True, help=f"one of: {', '.join(sorted(SPACES))}")
    p.add_argument("--preset", default="seed", help="a named preset of the space (default: seed)")
    args = p.parse_args(argv)
    try:
        space = get_space(args.space)
    except KeyError as e:
        print(f"nas.summary: error: {e.args[0]}.", file=sys.stderr)
        return 2
    if args.preset not in space.presets:
        known = ", ".join(sorted(space.presets))
        print(
            f"nas.summary: error: space {space.name} has no preset {args.preset!r}; "
            f"known presets: {known}.",
            file=sys.stderr,
        )
        return 2
    spec, _ = space.decode(space.presets[args.preset])
    analysis, broken = check(spec, space.rules, space.analyze)
    if analysis is None:
        print(f"nas.summary: error: preset {args.preset!r} cannot be built: {'; '.join(broken)}")
        return 1
    print(f"{space.name} / {args.preset}: {type(spec).__name__}")
    print(layer_table(analysis))
    print(f"Rules ({space.rules.describe()}): " + ("; ".join(broken) if broken else "all met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
