"""The workshop plan: a 90-minute and a 3-hour outline, made from the chapters present.

``course/Workshop.ipynb`` is written by hand except for the cells marked
``<!--WORKSHOP-->``, which the normaliser (``python -m simulator.notebooks``)
rewrites from the course itself: which chapters exist, their sections, the
cells worth running live (the widgets, the explorer's verdicts) and the parts
of each chapter's exercise notebook. Add a chapter and the plan makes room
for it; nobody edits timings by hand.

The timings follow a fixed rule, stated in the plan itself:

- 3 hours: welcome 10 min, the introduction 15, a 10-minute break once there
  are three or more bug chapters, a wrap-up 10; the rest is shared equally by
  the bug chapters, three fifths talk and two fifths exercise, at most 45
  minutes each; what is left over is open lab time.
- 90 minutes: welcome 5, the introduction 10, the first bug chapter in depth
  (25 talk, 20 exercise), the others as a tour of at most 10 minutes each
  (the symptom and the scheduler game), a wrap-up 5; what is left over is open
  lab time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

MARK = "<!--WORKSHOP-->"
PART = re.compile(r"^##\s+(Part \w+)\s*\((\d+) points?\)", re.MULTILINE)
EXPLORER_CALL = re.compile(r"\b(search|explore)\(")


@dataclass(frozen=True)
class Item:
    """One row of an outline: minutes, what, and how it is run."""

    minutes: int
    what: str
    how: str


def parts(exercise: Path) -> list[tuple[str, int]]:
    """The graded parts of an exercise notebook and their points, from its headings."""
    nb = nbformat.read(exercise, as_version=4)
    return [(name, int(points)) for cell in nb.cells if cell.cell_type == "markdown"
            for name, points in PART.findall(cell.source)]


def live_cells(path: Path) -> list[tuple[str, str]]:
    """The cells to run live, as (section, first line): every widget, and the first
    call of the explorer in the section about the explorer (the fix being proved)."""
    nb = nbformat.read(path, as_version=4)
    found, section, explored = [], "", False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    section = line[3:].strip()
            continue
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        if ".widget()" in cell.source:
            found.append((section, first))
        elif not explored and "explorer" in section.lower() and EXPLORER_CALL.search(
                cell.source):
            found.append((section, first))
            explored = True
    return found


def exercise_for(chapter, exercises: Path) -> Path | None:
    path = exercises / chapter.path.name
    return path if path.exists() else None


def exercise_note(chapter, exercises: Path) -> str:
    ex = exercise_for(chapter, exercises)
    if ex is None:
        return "no exercise notebook yet"
    listed = ", ".join(f"{name} ({pts})" for name, pts in parts(ex))
    return f"[exercises/{ex.name}](../exercises/{ex.name}): {listed}"


def three_hours(intro, bugs, exercises: Path) -> list[Item]:
    items = [Item(10, "Welcome; everyone logged in (hub or Binder), `Index.ipynb` open",
                  "host")]
    if intro is not None:
        items.append(Item(15, f"[{intro.title}]({intro.link})", "slides, run live"))
    fixed = sum(i.minutes for i in items) + 10 + (10 if len(bugs) >= 3 else 0)
    each = min(45, (180 - fixed) // len(bugs)) if bugs else 0
    for k, ch in enumerate(bugs):
        if len(bugs) >= 3 and k == (len(bugs) + 1) // 2:
            items.append(Item(10, "Break", ""))
        talk = each * 3 // 5
        items.append(Item(talk, f"[{ch.title}]({ch.link})", "slides, run live"))
        has_ex = exercise_for(ch, exercises) is not None
        items.append(Item(each - talk, "Exercise: " + exercise_note(ch, exercises),
                          "students, Validate" if has_ex else "students play the game"))
    spare = 180 - 10 - sum(i.minutes for i in items)
    if spare > 0:
        items.append(Item(spare, "Open lab: questions, the remaining parts of any exercise",
                          "room"))
    items.append(Item(10, "Wrap-up: the book, the hub stays up, where to read the real fixes",
                      "host"))
    return items


def ninety_minutes(intro, bugs, exercises: Path) -> list[Item]:
    items = [Item(5, "Welcome; everyone logged in, `Index.ipynb` open", "host")]
    if intro is not None:
        items.append(Item(10, f"[{intro.title}]({intro.link}): a race in four lines, "
                          "the scheduler game", "slides, run live"))
    if bugs:
        first, rest = bugs[0], bugs[1:]
        items.append(Item(25, f"[{first.title}]({first.link})", "slides, run live"))
        items.append(Item(20, "Exercise: " + exercise_note(first, exercises)
                          + " (Parts A and B in the room, the rest at home)", "students, Validate"))
        left = 90 - 5 - sum(i.minutes for i in items)
        tour = min(10, left // len(rest)) if rest else 0
        for ch in rest:
            items.append(Item(tour, f"Tour: [{ch.title}]({ch.link}) — the symptom and "
                              "the scheduler game", "slides, run live"))
    spare = 90 - 5 - sum(i.minutes for i in items)
    if spare > 0:
        items.append(Item(spare, "Open lab: questions, the remaining parts", "room"))
    items.append(Item(5, "Wrap-up: the remaining exercises as homework, the book", "host"))
    return items


def table(items: list[Item]) -> str:
    rows, t = ["| time | minutes | what | how |", "|---|---|---|---|"], 0
    for it in items:
        rows.append(f"| {t // 60}:{t % 60:02d} | {it.minutes} | {it.what} | {it.how} |")
        t += it.minutes
    rows.append(f"| {t // 60}:{t % 60:02d} | | end | |")
    return "\n".join(rows)


def chapter_notes(chapters, exercises: Path) -> str:
    lines = [MARK, "## Chapter by chapter", "",
             "Generated from the notebooks: the cells worth running live (the widgets "
             "and the explorer's verdicts) and the exercise to give.", ""]
    for ch in chapters:
        lines.append(f"**[{ch.title}]({ch.link})** — {len(ch.sections)} sections")
        lines.append("")
        for section, first in live_cells(ch.path):
            lines.append(f"- run live, *{section}*: `{first}`")
        lines.append(f"- exercise: {exercise_note(ch, exercises)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def plan_cells(chapters, exercises: Path) -> list:
    """The generated cells of the workshop plan for these chapters (introduction first)."""
    intro = next((c for c in chapters if c.path.name.startswith("00-")), None)
    bugs = [c for c in chapters if c is not intro]
    names = ", ".join(c.path.name for c in chapters)
    cells = [
        new_markdown_cell(f"{MARK}\n## 90 minutes: one bug in depth, a tour of the rest\n\n"
                          f"{table(ninety_minutes(intro, bugs, exercises))}"),
        new_markdown_cell(f"{MARK}\n## 3 hours: every chapter, an exercise for each\n\n"
                          f"{table(three_hours(intro, bugs, exercises))}\n\n"
                          f"*Made from the chapters present ({names}) by the rule in "
                          "`simulator/workshop.py`; rerun `python -m simulator.notebooks` "
                          "after adding a chapter.*"),
        new_markdown_cell(chapter_notes(chapters, exercises)),
    ]
    for k, cell in enumerate(cells):
        cell.id = f"workshop-plan-{k}"
    return cells


def is_plan(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(MARK)


def with_plan(nb, chapters, exercises: Path):
    """The hand-written workshop notebook with its generated cells brought up to date
    (where the old ones stood, or at the end)."""
    at = next((i for i, c in enumerate(nb.cells) if is_plan(c)), len(nb.cells))
    kept = [c for c in nb.cells if not is_plan(c)]
    before = sum(1 for c in nb.cells[:at] if not is_plan(c))
    nb.cells = kept[:before] + plan_cells(chapters, exercises) + kept[before:]
    return nb
