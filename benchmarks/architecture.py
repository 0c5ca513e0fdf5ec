"""Draw the map of the house from its code: the packages of ``scac`` and the rooms of ``bench``,
an arrow for each import between them, and check the map's rules on the way.

The rules (the same checks as ``tests/test_layout.py``, whose graph reader this uses): ``scac``
never imports ``bench``; no cycle between files or folders; every room of ``bench`` imports only
the rooms its ``__init__`` allows. A broken rule is printed and the script exits with 1, after
drawing, so the picture shows where.

    python benchmarks/architecture.py                 # writes docs/architecture.png
    python benchmarks/architecture.py --out map.png
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import test_layout as layout  # noqa: E402 - the one reader of the import graph


def node(module: str) -> str:
    """The box a module is drawn in: its subpackage, or itself (a loose module)."""
    return layout._folder(module)


def edges() -> dict[str, set[str]]:
    """Box -> the boxes it imports."""
    out: dict[str, set[str]] = defaultdict(set)
    for module, deps in layout._graph().items():
        if module not in ("scac", "bench"):  # the packages themselves: nothing imports them
            out[node(module)] |= {node(d) for d in deps} - {node(module), "scac", "bench"}
    return out


def broken_rules() -> list[str]:
    problems = []
    for name, check in [
        ("scac never imports bench", layout.test_scac_never_imports_bench),
        ("no cycle between files", layout.test_no_import_cycle_between_files),
        ("no cycle between folders", layout.test_no_import_cycle_between_folders),
        ("rooms import what their __init__ allows",
         layout.test_each_room_imports_only_what_its_init_allows),
    ]:  # fmt: skip
        try:
            check()
        except AssertionError as err:
            problems.append(f"{name}: {err}")
    return problems


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each box's height: 0 for what imports nothing, else one above the highest it imports."""
    depth: dict[str, int] = {}

    def height(v: str, seen: tuple[str, ...] = ()) -> int:
        if v not in depth:
            below = [height(w, (*seen, v)) for w in graph.get(v, ()) if w not in seen]
            depth[v] = 1 + max(below) if below else 0
        return depth[v]

    for v in graph:
        height(v)
    return depth


def reduced(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The arrows no longer path implies (the transitive reduction): what the picture draws."""

    def reach(v: str, seen: set[str]) -> set[str]:
        for w in graph.get(v, ()):
            if w not in seen:
                seen.add(w)
                reach(w, seen)
        return seen

    out = {}
    for v, targets in graph.items():
        implied = set().union(*(reach(w, set()) for w in targets)) if targets else set()
        out[v] = {w for w in targets if w not in implied}
    return out


def draw(graph: dict[str, set[str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    depth = layers(graph)
    rows: dict[int, list[str]] = defaultdict(list)
    for v in sorted(graph, key=lambda v: (not v.startswith("scac"), v)):
        rows[depth[v]].append(v)
    width = 2.3 * max(len(r) for r in rows.values())
    pos = {
        v: ((i + 0.5) * width / len(row), level * 1.6)
        for level, row in rows.items()
        for i, v in enumerate(row)
    }
    fig, ax = plt.subplots(figsize=(1.1 * width + 1, 1.3 * len(rows) + 1.2))
    boxes = {}
    for v, (x, y) in pos.items():
        colour = "#dbe8f6" if v.startswith("scac") else "#fbe3c8"
        boxes[v] = FancyBboxPatch(
            (x - 0.95, y - 0.28), 1.9, 0.56, boxstyle="round,pad=0.02",
            facecolor=colour, edgecolor="#555555", lw=0.8, zorder=3,
        )  # fmt: skip
        ax.add_patch(boxes[v])
        ax.text(x, y, v, ha="center", va="center", fontsize=9, zorder=4)
    for v, targets in reduced(graph).items():
        for w in targets:  # clipped at the boxes' outlines, so every head shows
            ax.add_patch(
                FancyArrowPatch(
                    pos[v], pos[w], patchA=boxes[v], patchB=boxes[w], arrowstyle="-|>",
                    mutation_scale=12, lw=0.9, color="#666666", alpha=0.75, shrinkA=1,
                    shrinkB=1, connectionstyle="arc3,rad=0.06", zorder=2,
                )
            )  # fmt: skip
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-0.8, 1.6 * max(rows) + 0.8)
    ax.axis("off")
    ax.set_title(
        "scac (blue) and bench (orange): an arrow for each import between packages, "
        "those another path implies left out; every arrow points down",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "architecture.png")
    args = ap.parse_args()
    graph = edges()
    draw(graph, args.out)
    print(f"wrote {args.out}: {len(graph)} packages, {sum(map(len, graph.values()))} arrows")
    for v in sorted(graph):
        print(f"  {v:22} -> {', '.join(sorted(graph[v])) or '(nothing)'}")
    problems = broken_rules()
    for p in problems:
        print(f"RULE BROKEN: {p}")
    if problems:
        sys.exit(1)
    print("rules hold: scac never imports bench; no cycle; every room within its __init__'s list")


if __name__ == "__main__":
    main()
