"""The course's chrome: navigation between chapters and the contents page.

Chapters are ``course/NN-Title.ipynb``, in the order of their numbers. Each
gets a navigation cell at its top and at its bottom — previous chapter,
contents, next chapter — marked by ``<!--NAVIGATION-->`` so that it can be
found and rewritten. The contents page, ``course/Index.ipynb``, lists every
chapter under its first heading, with its ``##`` sections beneath.

Notebooks are kept in one normal form: chrome up to date, no outputs, no
execution counts, no saved widget state, and RISE slide metadata that follows
from the content (``simulator.slides``). The workshop plan,
``course/Workshop.ipynb``, keeps its hand-written cells; its outlines are
regenerated from the chapters present (``simulator.workshop``). ``python -m simulator.notebooks``
brings every notebook to it; ``--check`` changes nothing and exits 1 if any
file would change (the test suite runs that).
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from simulator import slides, workshop

COURSE = Path(__file__).resolve().parent.parent / "course"
INDEX = "Index.ipynb"
WORKSHOP = "Workshop.ipynb"
NAV_MARK = "<!--NAVIGATION-->"
INDEX_MARK = "<!--INDEX-->"
CHAPTER = re.compile(r"^\d\d-.+\.ipynb$")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Chapter:
    """One chapter: its file, the title from its first heading, its sections."""

    path: Path
    title: str
    sections: tuple[str, ...]

    @property
    def link(self) -> str:
        return self.path.name


def chapter_paths(course: Path = COURSE) -> list[Path]:
    """The chapter notebooks, in the order of their numbers."""
    return sorted(p for p in course.glob("*.ipynb") if CHAPTER.match(p.name))


def is_chrome(cell) -> bool:
    """Was this cell written by this module (navigation or index)?"""
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(
        (NAV_MARK, INDEX_MARK))


def headings(nb, level: int) -> list[str]:
    """The text of every heading of ``level`` in the notebook's own markdown cells."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or is_chrome(cell):
            continue
        for hashes, text in HEADING.findall(cell.source):
            if len(hashes) == level:
                found.append(text)
    return found


def read_chapter(path: Path) -> Chapter:
    """A chapter's title (its first ``#`` heading) and its ``##`` sections."""
    nb = nbformat.read(path, as_version=4)
    titles = headings(nb, 1)
    title = titles[0] if titles else path.stem
    return Chapter(path, title, tuple(headings(nb, 2)))


def navigation(prev: Chapter | None, nxt: Chapter | None) -> str:
    """The navigation line: < previous | contents | next >."""
    parts = []
    if prev is not None:
        parts.append(f"[{prev.title}]({prev.link})")
    parts.append(f"[Contents]({INDEX})")
    if nxt is not None:
        parts.append(f"[{nxt.title}]({nxt.link})")
    return f"{NAV_MARK}\n< " + " | ".join(parts) + " >"


def strip(nb) -> None:
    """No outputs, no execution counts, no saved widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)


def with_navigation(nb, prev: Chapter | None, nxt: Chapter | None):
    """The notebook with its old chrome replaced by a navigation cell at each end."""
    nav = navigation(prev, nxt)
    top, bottom = new_markdown_cell(nav), new_markdown_cell(nav)
    top.id, bottom.id = "nav-top", "nav-bottom"
    nb.cells = [top] + [c for c in nb.cells if not is_chrome(c)] + [bottom]
    strip(nb)
    return nb


def _escape(text: str) -> str:
    """Keep a numbered section ("1. The symptom") from turning into a list."""
    return re.sub(r"^(\d+)\.", r"\1\\.", text)


def index_notebook(chapters: list[Chapter], plan_too: bool = False):
    """The contents page: every chapter with its sections (and the workshop plan)."""
    lines = [INDEX_MARK, "# Hypervisor Races — contents", ""]
    for ch in chapters:
        lines.append(f"- [{ch.title}]({ch.link})")
        lines += [f"    - {_escape(s)}" for s in ch.sections]
    lines += ["", "Exercises for each chapter are in `../exercises/`, with the same names."]
    if plan_too:
        lines += ["", f"Teaching this course? [The workshop plan]({WORKSHOP})."]
    cell = new_markdown_cell("\n".join(lines))
    cell.id = "index"
    nb = new_notebook(cells=[cell])
    nb.metadata = {"kernelspec": dict(KERNEL), "language_info": {"name": "python"}}
    return nb


def render(nb) -> str:
    """A notebook as the exact text written to disk."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def plan(course: Path = COURSE) -> dict[Path, str]:
    """Every chrome-managed file and the text it should have."""
    chapters = [read_chapter(p) for p in chapter_paths(course)]
    wanted: dict[Path, str] = {}
    for i, ch in enumerate(chapters):
        prev = chapters[i - 1] if i > 0 else None
        nxt = chapters[i + 1] if i + 1 < len(chapters) else None
        nb = with_navigation(nbformat.read(ch.path, as_version=4), prev, nxt)
        wanted[ch.path] = render(slides.with_slides(nb, skip=is_chrome))
    plan_path = course / WORKSHOP
    wanted[course / INDEX] = render(slides.with_slides(
        index_notebook(chapters, plan_too=plan_path.exists())))
    if plan_path.exists():
        nb = workshop.with_plan(nbformat.read(plan_path, as_version=4), chapters,
                                course.parent / "exercises")
        strip(nb)
        wanted[plan_path] = render(slides.with_slides(nb))
    return wanted


def stale(course: Path = COURSE) -> list[Path]:
    """The files whose chrome (or outputs) is not as generated."""
    return [p for p, text in plan(course).items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def update(course: Path = COURSE) -> list[Path]:
    """Rewrite every file that is not as generated; return those written."""
    changed = []
    for path, text in plan(course).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.notebooks",
                                description="Generate the course's navigation and contents.")
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if any notebook would change")
    p.add_argument("--course", type=Path, default=COURSE, help="the course directory")
    args = p.parse_args(argv)
    if not args.course.is_dir():
        print(f"error: no course directory at {args.course}", file=sys.stderr)
        return 2
    if args.check:
        out = stale(args.course)
        for path in out:
            print(f"would change: {path.name}")
        return 1 if out else 0
    for path in update(args.course):
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
