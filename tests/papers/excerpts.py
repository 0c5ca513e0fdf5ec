"""The excerpts of the papers the tests read: their tables, and the sentences ``claims.csv``
quotes, as verbatim lines of the texts in ``../shared/papers``.

The project ships them in ``tests/papers/`` so that a plain clone tests its transcriptions too;
``tests/bench/test_reported.py`` checks that they are still what this module extracts from the
full texts whenever those are present.

    python -m tests.papers.excerpts        # rewrite tests/papers/*.txt from ../shared/papers
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "papers"

# the header lines of the tab-separated tables the tests compare with the transcriptions
TABLES = {
    "scac-icassp2022.txt": ("Method\tmAP\tF1-C", "Method\tareoplane"),
    "scac-poster.txt": ("Method\tmAP\tF1-C", "Method\tareoplane", "\tdog\thorse"),
    "srn-cvpr2017.txt": (
        "Method\tAll\t\t\t\t\t\t\ttop-3",
        "Method\tAll\t\t\t\t\t\t\t\ttop-3",
        "Mctilou\tmAP",
    ),
    "latent-context-2023.txt": (
        "Methods\tResolution",
        "Methods\tmAP\tAll",
        "MLFF\tLCIE",
        "Backbone\tOurs",
        "Method\t10%",
    ),
    "scac-preprint.txt": (),
}
# the preprint prints its tables as space-separated lines: a method, then 7 or 21 numbers
_NUM = r"(-|\d+\.\d)"
PREPRINT_ROWS = re.compile(
    rf"^[A-Za-z][^.\n]*? ({' '.join([_NUM] * 7)}|{' '.join([_NUM] * 21)})$", re.M
)


def papers_folder() -> Path:
    """The full texts when they are beside the checkout, else the shipped excerpts."""
    return SHARED if SHARED.is_dir() else HERE


def normalise(text: str) -> str:
    """Text as the claims are matched: hyphenated line breaks joined, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"-\n", "", text))


def _blocks(lines: list[str], headers: tuple[str, ...]) -> list[range]:
    out = []
    for header in headers:
        start = next(i for i, line in enumerate(lines) if line.startswith(header))
        end = next((j for j in range(start + 1, len(lines)) if not lines[j].strip()), len(lines))
        # tables whose header spans two lines start with a blank-free header row, then data
        out.append(range(start, end))
    return out


def _quoted(lines: list[str], quote: str) -> range:
    """The fewest consecutive lines whose normalised text holds ``quote``."""
    for size in range(1, 12):
        for i in range(len(lines) - size + 1):
            if quote in normalise("\n".join(lines[i : i + size])):
                return range(i, i + size)
    raise ValueError(f"quote not found: {quote!r}")


def claims() -> list[dict[str, str]]:
    with open(ROOT / "results" / "reported" / "claims.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def excerpt(name: str, text: str) -> str:
    """The lines of paper ``name`` the tests read, in their order, blocks apart."""
    lines = text.splitlines()
    spans = _blocks(lines, TABLES[name])
    if name == "scac-preprint.txt":
        rows = {m.group(0) for m in PREPRINT_ROWS.finditer(text)}
        spans += [range(i, i + 1) for i, line in enumerate(lines) if line in rows]
    for claim in claims():
        if f"{claim['paper']}-{claim['version']}.txt" == name:
            spans += [_quoted(lines, part) for part in claim["quote"].split(" ... ")]
    keep = sorted({i for span in spans for i in span})
    out, previous = [], None
    for i in keep:
        if previous is not None and i != previous + 1:
            out.append("")  # a blank line between what is not contiguous in the paper
        out.append(lines[i])
        previous = i
    return "\n".join(out) + "\n"


def main() -> None:
    for name in TABLES:
        (HERE / name).write_text(excerpt(name, (SHARED / name).read_text()))
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
