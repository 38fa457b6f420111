"""One matrix, one column per provider: `python -m conformance.columns NAME=DIR ...`.

Each DIR is a run's report directory (its `conformance.xml`, the per-id
matrix `render.junit_xml` writes); the table has a row per id in spec order
and a column per NAME, each cell the id's result there, with the reason of a
skip or the first line of a failure. Pure but for reading the files; prints
Markdown, or writes it with `--out`.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.ids import SPEC_IDS, spec_order, title
from conformance.matrix import one_line


@dataclass(frozen=True)
class Cell:
    result: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.result}: {self.note}" if self.note else self.result


def read_results(xml: str) -> dict[str, Cell]:
    """id -> Cell from one run's `conformance.xml`, each note whole."""
    cells = {}
    for case in ET.fromstring(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        result = props.get("result") or "not run"
        note = ""
        for tag in ("failure", "skipped"):
            found = case.find(tag)
            if found is not None and result != "not run":
                note = found.get("message") or ""
        cells[case.get("name") or ""] = Cell(result, note)
    return cells


def read_column(xml: str) -> dict[str, Cell]:
    """id -> Cell from one run's `conformance.xml`, notes cut to fit a table cell."""
    return {i: Cell(c.result, one_line(c.note, 120)) for i, c in read_results(xml).items()}


def table(columns: Mapping[str, Mapping[str, Cell]]) -> str:
    """The Markdown table: a row per id, a column per name."""
    seen = {id_ for cells in columns.values() for id_ in cells}
    ids = [*SPEC_IDS, *sorted(seen - set(SPEC_IDS), key=spec_order)]
    names = list(columns)
    lines = [
        "| id | behaviour | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for id_ in ids:
        cells = [str(columns[n].get(id_, Cell("not run"))).replace("|", "\\|") for n in names]
        lines.append(f"| {id_} | {title(id_)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.columns")
    parser.add_argument("runs", nargs="+", metavar="NAME=DIR")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    columns = {}
    for run in args.runs:
        name, sep, directory = run.partition("=")
        path = Path(directory) / "conformance.xml"
        if not sep or not path.is_file():
            print(f"columns: {run!r}: want NAME=DIR with DIR/conformance.xml", file=sys.stderr)
            return 2
        columns[name] = read_column(path.read_text(encoding="utf-8"))
    text = table(columns)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
