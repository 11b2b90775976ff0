"""The static book: the course as HTML pages with their outputs, readable with no kernel.

``python -m simulator.book`` (``make book``) executes every chapter once, headless,
and writes one HTML page per notebook — the contents page as ``index.html``, the
chapters and the workshop plan beside it, the exercises (as students get them,
not executed) under ``exercises/`` — each with a sidebar to every other page.
Links between notebooks are rewritten to the pages; nothing is loaded from the
web, so the book reads offline from a file system or any static web server.

Widgets are shown as stills (``simulator.viz.still``): the HTML the stepper or the
game showed when its cell ran, buttons drawn disabled.

Built with nbconvert rather than Jupyter Book 2 / MyST: MyST's HTML build fetches
its site theme from the web at build time, which a closed network (a conference
room, this project's CI) cannot do, while nbconvert is already installed with
JupyterLab and renders the notebooks exactly as JupyterLab shows them.
"""
from __future__ import annotations

import argparse
import html
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from simulator import notebooks

ROOT = notebooks.COURSE.parent
OUT = ROOT / "_build" / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Run before a chapter's first cell (and dropped from the page): figures inline whatever
# MPLBACKEND says, widgets with their stills.
SETUP = ("get_ipython().run_line_magic('matplotlib', 'inline')\n"
         "from simulator.viz.still import register as _register_stills\n_register_stills()")
EXTERNAL = re.compile(r"<script[^>]*\ssrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*"
                      r"|<link[^>]*\shref=\"https?://[^\"]*\"[^>]*>\s*")
HREF = re.compile(r'href="([^":#?]+\.ipynb)(#[^"]*)?"')
STYLE = """<style>
body { margin-left: 17rem !important; }
nav.hvr-book { position: fixed; top: 0; left: 0; bottom: 0; width: 15.5rem; overflow-y: auto;
  padding: 1rem; background: #f6f8fa; border-right: 1px solid #ddd;
  font: 14px/1.4 system-ui, sans-serif; }
nav.hvr-book a { color: #0b5cad; text-decoration: none; }
nav.hvr-book li.here > a { font-weight: bold; color: #000; }
nav.hvr-book ul { padding-left: 1rem; margin: .3rem 0 .8rem; }
nav.hvr-book h2 { font-size: 13px; text-transform: uppercase; color: #555; margin: .8rem 0 0; }
.hvr-still button { opacity: .6; }
</style>"""


class BookError(Exception):
    """The book cannot be built: a chapter raised, or an input is missing."""


@dataclass(frozen=True)
class Page:
    """One notebook of the book: where it is in the repository and in the book."""

    source: Path  # the notebook
    out: str  # its page, relative to the book's root
    title: str
    section: str  # "course", "exercises" or "teaching"
    execute: bool


def pages(root: Path = ROOT) -> list[Page]:
    """Every page of the book, in reading order."""
    course = root / "course"
    found = [Page(course / notebooks.INDEX, "index.html", "Contents", "course", False)]
    for path in notebooks.chapter_paths(course):
        found.append(Page(path, f"{path.stem}.html", notebooks.read_chapter(path).title,
                          "course", True))
    for path in sorted((root / "exercises").glob("*.ipynb")):
        title = notebooks.read_chapter(path).title
        found.append(Page(path, f"exercises/{path.stem}.html", title, "exercises", False))
    plan = course / notebooks.WORKSHOP
    if plan.exists():
        found.append(Page(plan, f"{plan.stem}.html", "Workshop plan", "teaching", False))
    return found


def execute(path: Path, timeout: int):
    """The notebook run top to bottom in its own folder, widgets as stills."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, new_code_cell(SETUP))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise BookError(f"{path.name} failed while building the book: {first}") from None
    nb.cells.pop(0)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]  # the still stands in for the live view
    nb.metadata.pop("widgets", None)
    return nb


def link_map(all_pages: list[Page], root: Path) -> dict[str, str]:
    """Repository path of each notebook -> its page in the book."""
    return {p.source.relative_to(root).as_posix(): p.out for p in all_pages}


def rewrite_links(body: str, page: Page, links: dict[str, str], root: Path) -> str:
    """Links to notebooks become links to their pages, relative to this page."""
    here = page.source.parent.relative_to(root).as_posix()
    out_dir = posixpath.dirname(page.out) or "."

    def swap(m: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(here, m.group(1)))
        if target not in links:
            return m.group(0)
        return f'href="{posixpath.relpath(links[target], out_dir)}{m.group(2) or ""}"'

    return HREF.sub(swap, body)


def sidebar(all_pages: list[Page], page: Page) -> str:
    out_dir = posixpath.dirname(page.out) or "."
    groups = {"course": "Course", "exercises": "Exercises", "teaching": "Teaching"}
    parts = ["<nav class='hvr-book'><b>Hypervisor Races</b>"]
    for key, label in groups.items():
        items = [p for p in all_pages if p.section == key]
        if not items:
            continue
        parts.append(f"<h2>{label}</h2><ul>")
        for p in items:
            here = " class='here'" if p is page else ""
            href = posixpath.relpath(p.out, out_dir)
            parts.append(f"<li{here}><a href='{href}'>{html.escape(p.title)}</a></li>")
        parts.append("</ul>")
    parts.append("</nav>")
    return "".join(parts)


def render(nb, page: Page, all_pages: list[Page], root: Path) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": page.title}})
    body = EXTERNAL.sub("", body)  # no MathJax or require.js from the web: the pages need none
    body = rewrite_links(body, page, link_map(all_pages, root), root)
    body = body.replace("</head>", STYLE + "</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + sidebar(all_pages, page), body,
                  count=1)


def build(out: Path = OUT, root: Path = ROOT, *, run: bool = True, timeout: int = 600,
          log=print) -> list[Path]:
    """Write the book under ``out``; return the pages written."""
    all_pages = pages(root)
    written = []
    for page in all_pages:
        log(f"{'running' if page.execute and run else 'rendering'} {page.source.name}")
        nb = (execute(page.source, timeout) if page.execute and run
              else nbformat.read(page.source, as_version=4))
        target = out / page.out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(nb, page, all_pages, root), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.book",
                                description="Build the static book of the course.")
    p.add_argument("--out", type=Path, default=OUT, help="where to write it (%(default)s)")
    p.add_argument("--timeout", type=int, default=600,
                   help="seconds one cell may take before the build gives up (a hang guard)")
    p.add_argument("--no-execute", action="store_true",
                   help="render the notebooks as committed, without outputs")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        print("error: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        written = build(args.out, run=not args.no_execute, timeout=args.timeout)
    except BookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} pages; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
