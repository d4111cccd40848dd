"""Merging-cell designs: NAS-FPN's search space as data a learner can edit, check, mutate and share.

A design is one stage of an NAS-FPN-style neck: an ordered list of merging cells over the five-level
pyramid P3…P7. Each cell reads two earlier nodes — a level of the stage's input pyramid ("P3"…"P7")
or an earlier cell's output ("cell 2") —, resizes both to its output level (nearest up, max-pool
down), merges them by a sum or by NAS-FPN's global-pooling attention (B + σ(GAP(B))·A), and
optionally runs ReLU → 3×3 conv → BN. The stage's output at each level is the *last* cell written
to that level, so every level needs at least one producer; stacked stages read the previous stage's
outputs as their P3…P7. `necklab.models.necks.nasfpn.NASFPN` builds its stages from a design, and its default is
`NAS_FPN` below, so the zoo's NAS-FPN and the playground share one implementation.

FPN and PANet are two other points of this space, up to differences the presets' notes state (their
words, like the table's, live in the language files: `playground.preset.<key>`).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from necklab.models.refusal import Refusal

LEVELS = (3, 4, 5, 6, 7)  # pyramid positions P3…P7 a stage reads and writes
OPS = {"sum": "sum", "gp": "global pooling"}  # op key → how a table names it in English
MAX_CELLS = 24  # a stage longer than this is refused: it would only make the step-through unreadable
FORMAT = "necklab-cell-design"


class DesignError(Refusal):
    """A design that cannot be built (`design.<key>`): which problem, and where (`fields`)."""

    area = "design"


@dataclass(frozen=True)
class CellSpec:
    """One merging cell: `op(a, b)` resized to P`level`, then ReLU → 3×3 conv → BN if `conv`."""

    op: str  # "sum" or "gp" (global pooling: the output is b + sigmoid(GAP(b)) · a)
    a: str  # "P3"…"P7" (the stage's input at that level) or "cell k" (1-based, an earlier cell)
    b: str
    level: int  # output level, 3…7
    conv: bool = True


class StageCell(NamedTuple):
    """A cell of a checked design with its name (mmdet's key style: gp_64_4 = global pooling of a
    level-6 and a level-4 input to level 4) and what the name is made of: the levels its inputs
    are at and, for a repeated name (gp_64_4_2), which of its kind it is; what the neck, its
    lesson table and the words decoding the name read."""

    name: str
    op: str
    a: str
    b: str
    level: int
    with_out_conv: bool
    input_levels: tuple[int, int]  # the levels of a and b
    repeat: int  # 1 for the first cell of its kind in the stage, n for the one named _n


def cell_ref(k: int) -> str:
    return f"cell {k}"


def level_ref(level: int) -> str:
    return f"P{level}"


def parse_ref(text: Any) -> str:
    """A learner's reference ("p4", "P4", "cell 2", "c2", "2") in the design's spelling; unknown
    text is kept as typed so that validation can name it."""
    s = str(text).strip()
    low = s.lower().replace(" ", "")
    if low[:1] == "p" and low[1:].isdigit():
        return f"P{int(low[1:])}"
    for prefix in ("cell", "c", ""):
        rest = low[len(prefix):]
        if low.startswith(prefix) and rest.isdigit():
            return cell_ref(int(rest))
    return s


def parse_level(text: Any) -> int | None:
    """"P5", "p5" or 5 → 5; anything else → None (validation then says what is wrong)."""
    s = str(text).strip().lower().lstrip("p")
    return int(s) if s.isdigit() else None


def parse_op(text: Any) -> str:
    low = str(text).strip().lower().replace("-", " ").replace("_", " ")
    if low in ("gp", "global pooling", "global pooling attention", "global"):
        return "gp"
    return "sum" if low in ("sum", "+", "add") else str(text).strip()


@dataclass(frozen=True)
class Design:
    cells: tuple[CellSpec, ...]
    name: str = "my design"
    preset: str = ""  # a preset's key (its name and notes in the language files); "" for the learner's own

    # --- checking ---------------------------------------------------------------------------
    def validate(self) -> Design:
        """Raise DesignError for the first problem, naming the cell; return the design if none."""
        if not self.cells:
            raise DesignError("no_cells")
        if len(self.cells) > MAX_CELLS:
            raise DesignError("too_many", n=len(self.cells), most=MAX_CELLS)
        for k, cell in enumerate(self.cells, start=1):
            if cell.op not in OPS:
                raise DesignError("unknown_op", k=k, op=repr(cell.op))
            if cell.level not in LEVELS:
                raise DesignError("level_outside", k=k, level=cell.level)
            for side, ref in (("A", cell.a), ("B", cell.b)):
                self._check_ref(k, side, ref)
        missing = [lvl for lvl in LEVELS if lvl not in self.producers()]
        if missing:
            names = ", ".join(level_ref(lvl) for lvl in missing)
            raise DesignError("unwritten", names=names)
        return self

    def _check_ref(self, k: int, side: str, ref: str) -> None:
        where = dict(k=k, side=side)
        if ref.startswith("P"):
            level = parse_level(ref)
            if level not in LEVELS:
                raise DesignError("ref_outside", **where, ref=ref)
            return
        source = self._cell_index(ref)
        if source is None:
            raise DesignError("ref_unknown", **where, ref=repr(ref))
        if source == k:
            raise DesignError("reads_itself", **where)
        if not 1 <= source <= len(self.cells):
            raise DesignError("no_such_cell", **where, source=source, n=len(self.cells))
        if source > k:
            loop = self._path(source, k)
            if loop:
                chain = " → ".join(cell_ref(c) for c in [k, *loop])
                raise DesignError("cycle", **where, source=source, chain=chain)
            raise DesignError("not_yet", **where, source=source)

    @staticmethod
    def _cell_index(ref: str) -> int | None:
        head, _, number = ref.partition(" ")
        return int(number) if head == "cell" and number.isdigit() else None

    def _path(self, start: int, goal: int) -> list[int]:
        """Cells from `start` to `goal` following inputs (any direction), or [] if none: the loop
        a forward reference closes."""
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            if node in seen or not 1 <= node <= len(self.cells):
                continue
            seen.add(node)
            cell = self.cells[node - 1]
            for ref in (cell.a, cell.b):
                source = self._cell_index(ref)
                if source is not None:
                    stack.append((source, [*path, source]))
        return []

    # --- reading ----------------------------------------------------------------------------
    def producers(self) -> dict[int, int]:
        """Level → the (1-based) cell whose output is the stage's output at that level."""
        return {cell.level: k for k, cell in enumerate(self.cells, start=1)}

    def level_of(self, ref: str) -> int:
        index = self._cell_index(ref)
        if index is not None:
            return self.cells[index - 1].level
        level = parse_level(ref)
        if level is None:
            raise ValueError(f"{ref!r} names no cell and no level")  # validate() words it for people
        return level

    def stage_cells(self) -> tuple[StageCell, ...]:
        """The checked cells with unique names (a repeated name gets _2, _3 …)."""
        self.validate()
        cells: list[StageCell] = []
        seen: dict[str, int] = {}
        for cell in self.cells:
            levels = (self.level_of(cell.a), self.level_of(cell.b))
            base = f"{cell.op}_{levels[0]}{levels[1]}_{cell.level}"
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}_{seen[base]}"
            cells.append(StageCell(name, cell.op, cell.a, cell.b, cell.level, cell.conv, levels, seen[base]))
        return tuple(cells)

    def unused(self) -> list[int]:
        """Cells whose output nothing reads and that are not a level's output: they cost time and
        (with a conv) parameters but change nothing."""
        read = {self._cell_index(r) for c in self.cells for r in (c.a, c.b)}
        final = set(self.producers().values())
        return [k for k in range(1, len(self.cells) + 1) if k not in read and k not in final]

    # --- table and JSON ---------------------------------------------------------------------
    def rows(self, words: Mapping[str, str] | None = None) -> list[list[str]]:
        """Rows for the playground's table: op, input A, input B, output level, conv after. `words`
        names the ops ("sum", "gp") and "yes" / "no" in the table's language (default English)."""
        words = {**OPS, "yes": "yes", "no": "no", **(words or {})}
        return [[words.get(c.op, c.op), c.a, c.b, level_ref(c.level), words["yes" if c.conv else "no"]]
                for c in self.cells]

    def to_json(self) -> str:
        cells = [{"op": c.op, "a": c.a, "b": c.b, "level": level_ref(c.level), "conv": c.conv} for c in self.cells]
        return json.dumps({"format": FORMAT, "version": 1, "name": self.name, "cells": cells}, indent=2,
                          ensure_ascii=False)


def from_rows(rows: Sequence[Sequence[Any]], name: str = "my design", words: Mapping[str, str] | None = None
              ) -> Design:
    """A design from table rows (op, input A, input B, output level[, conv after]); blank rows are
    skipped. `words` maps a table's words in another language to English ("求和" → "sum", "否" → "no").
    Raises DesignError for a row that cannot be read or a design that does not validate."""
    cells = []
    for i, row in enumerate(rows, start=1):
        values = ["" if v is None else str(v).strip() for v in row]
        values = [(words or {}).get(v, v) for v in values]
        if not any(values):
            continue
        if len(values) < 4 or not all(values[:4]):
            raise DesignError("row_blank", i=i)
        level = parse_level(values[3])
        if level is None:
            raise DesignError("row_level", i=i, level=repr(values[3]))
        conv = values[4].lower() not in ("no", "false", "0", "") if len(values) > 4 else True
        cells.append(CellSpec(parse_op(values[0]), parse_ref(values[1]), parse_ref(values[2]), level, conv))
    return Design(tuple(cells), name).validate()


def from_json(text: str) -> Design:
    """A design from `Design.to_json` text, validated; DesignError names what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DesignError("not_json", msg=e.msg, line=e.lineno) from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or not isinstance(data.get("cells"), list):
        raise DesignError("not_design", format=FORMAT)
    try:
        rows = [[c["op"], c["a"], c["b"], c["level"], "yes" if c.get("conv", True) else "no"] for c in data["cells"]]
    except (KeyError, TypeError):
        raise DesignError("cell_fields") from None
    return from_rows(rows, str(data.get("name") or "loaded design"))


# --- presets ----------------------------------------------------------------------------------
def _design(name: str, preset: str, rows: Sequence[tuple[str, str, str, int, bool]]) -> Design:
    cells = tuple(CellSpec(op, a, b, level, conv) for op, a, b, level, conv in rows)
    return Design(cells, name, preset).validate()


# mmdet's NAS-FPN stage (necks/nas_fpn.py): its keys p4_1, p4_2, p5_tmp, p7_tmp and the overwritten
# p3, p4, p5, p7, p6 become references to the cells that wrote them.
NAS_FPN = _design("NAS-FPN", "nas_fpn", (
    ("gp", "P6", "P4", 4, True),  # gp_64_4 → p4_1
    ("sum", "cell 1", "P4", 4, True),  # sum_44_4 → p4_2
    ("sum", "cell 2", "P3", 3, True),  # sum_43_3 → p3 (output)
    ("sum", "cell 3", "cell 2", 4, True),  # sum_34_4 → p4 (output)
    ("gp", "cell 4", "cell 3", 5, False),  # gp_43_5 → p5_tmp
    ("sum", "P5", "cell 5", 5, True),  # sum_55_5 → p5 (output)
    ("gp", "cell 6", "cell 2", 7, False),  # gp_54_7 → p7_tmp
    ("sum", "P7", "cell 7", 7, True),  # sum_77_7 → p7 (output)
    ("gp", "cell 8", "cell 6", 6, True),  # gp_75_6 → p6 (output)
))


# FPN and PANet as cells; their notes (playground.preset.fpn / .panet) say where they differ.
FPN_CELLS = _design("FPN (in cells)", "fpn", (
    ("sum", "P5", "P4", 4, True),  # P4 + ↑P5: the top-down merge
    ("sum", "cell 1", "P3", 3, True),  # P3 + ↑P4
    ("sum", "P5", "P5", 5, True),  # P5's 3×3 output conv
    ("sum", "cell 3", "cell 3", 6, True),  # P6 from P5's output
    ("sum", "cell 4", "cell 4", 7, True),  # P7 from P6
))

PANET_CELLS = _design("PANet (in cells)", "panet", (
    ("sum", "P5", "P4", 4, True),  # FPN part, as above
    ("sum", "cell 1", "P3", 3, True),
    ("sum", "P5", "P5", 5, True),
    ("sum", "cell 2", "cell 1", 4, True),  # bottom-up: ↓N3 + P4
    ("sum", "cell 4", "cell 3", 5, True),  # ↓N4 + P5
    ("sum", "cell 5", "cell 5", 6, True),
    ("sum", "cell 6", "cell 6", 7, True),
))

PRESETS: dict[str, Design] = {d.name: d for d in (NAS_FPN, FPN_CELLS, PANET_CELLS)}
