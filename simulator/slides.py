"""Slide metadata for presenting a notebook with RISE (jupyterlab-rise).

A notebook's slides follow from its content alone, so that whoever writes or
rewrites a chapter gets slides without thinking about them, and a merge of two
edits never conflicts over slide metadata that the content does not:

- the navigation cells are skipped (they are links, not material);
- a ``#`` or ``##`` heading starts a slide, a ``###`` heading a sub-slide;
- any other cell joins the current slide unless the slide would then be taller
  than ``BUDGET`` lines; then it starts a sub-slide (below, in RISE's grid).

A cell's height is its source lines, long lines counted as wrapped at
``WIDTH`` characters, plus ``OUTPUT`` lines for a code cell's output. RISE is
told to scroll, so a slide taller than the screen (a big figure) still reads,
and to keep each slide at the top of the screen rather than centred: the
slideshow does not centre a slide again when a cell run there adds output, only
when the next cell is selected, and the first click on a widget (which selects
its cell) would then move the slide under the pointer and be lost.
"""
from __future__ import annotations

import math

BUDGET = 22  # lines on one slide before a sub-slide starts
WIDTH = 90  # characters on one line of a slide
OUTPUT = 4  # lines a code cell's output is counted as
# The notebook-wide RISE settings; the "white" theme needs no web fonts from outside.
RISE = {"scroll": True, "center": False, "transition": "none", "theme": "white"}
SLIDE, SUBSLIDE, CONTINUE, SKIP = "slide", "subslide", "-", "skip"


def height(cell) -> int:
    """How many lines the cell takes on a slide (its source, wrapped; its output)."""
    lines = cell.source.splitlines() or [""]
    rows = sum(max(1, math.ceil(len(line) / WIDTH)) for line in lines)
    return rows + (OUTPUT if cell.cell_type == "code" else 0)


def heading_level(cell) -> int:
    """The level of the heading that opens a markdown cell, 0 if it opens with none."""
    if cell.cell_type != "markdown":
        return 0
    first = cell.source.lstrip().split("\n", 1)[0]
    hashes = len(first) - len(first.lstrip("#"))
    return hashes if 0 < hashes <= 6 and first[hashes:hashes + 1] == " " else 0


def slide_types(cells, skip=lambda cell: False) -> list[str]:
    """The RISE slide type of every cell, by the rule in the module's docstring."""
    types, used, started = [], 0, False
    for cell in cells:
        if skip(cell):
            types.append(SKIP)
            continue
        level, rows = heading_level(cell), height(cell)
        if not started or level in (1, 2):
            kind = SLIDE
        elif level == 3 or used + rows > BUDGET:
            kind = SUBSLIDE
        else:
            kind = CONTINUE
        used = rows if kind != CONTINUE else used + rows
        started = True
        types.append(kind)
    return types


def with_slides(nb, skip=lambda cell: False):
    """The notebook with every cell's slide type set and RISE's settings in place."""
    for cell, kind in zip(nb.cells, slide_types(nb.cells, skip), strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.metadata["rise"] = dict(RISE)
    return nb


def slides(nb) -> list[list[int]]:
    """The slides as lists of cell indices (sub-slides are slides of their own here);
    what a presenter steps through, skipped cells left out."""
    out: list[list[int]] = []
    for i, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type", CONTINUE)
        if kind == SKIP:
            continue
        if kind in (SLIDE, SUBSLIDE) or not out:
            out.append([])
        out[-1].append(i)
    return out
