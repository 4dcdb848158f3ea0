"""Imports run one way: ``trainables`` <- ``experiment`` <- ``search_spaces`` <- ``searchers``
<- ``reports`` <- ``driver`` <- ``nas``. A module may import from its own package and from the
packages before it, never from one after it (lazy imports inside functions included), so each
floor can be read, tested and reused without the ones above it."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOORS = ("trainables", "experiment", "search_spaces", "searchers", "reports", "driver", "nas")


def arrows() -> Counter[tuple[str, str]]:
    """(importing package, imported package) -> how many import statements, across floors."""
    found: Counter[tuple[str, str]] = Counter()
    for floor in FLOORS:
        for path in sorted((REPO / floor).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    target = name.split(".")[0]
                    if target in FLOORS and target != floor:
                        found[floor, target] += 1
    return found


def test_imports_run_one_way():
    backward = {
        f"{low} imports {high}": n
        for (low, high), n in arrows().items()
        if FLOORS.index(high) > FLOORS.index(low)
    }
    assert backward == {}
