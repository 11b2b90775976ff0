"""Slides and the workshop plan: both follow from the notebooks' content."""
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from simulator import notebooks, slides, workshop

COURSE = notebooks.COURSE


def md(text):
    return new_markdown_cell(text)


def test_headings_start_slides_and_a_long_section_continues_on_a_sub_slide():
    """`#`/`##` start a slide, `###` a sub-slide; a cell that would overflow the
    slide starts a sub-slide; short cells join the slide they follow."""
    long_code = new_code_cell("\n".join(f"x{i} = {i}" for i in range(slides.BUDGET)))
    cells = [md("<!--NAVIGATION-->\n< x >"), md("# Title\ntext"), new_code_cell("a = 1"),
             md("## Section\nshort"), new_code_cell("b = 2"), long_code,
             md("### Detail"), md("more"), md("Not a heading: #hashtag")]
    kinds = slides.slide_types(cells, skip=notebooks.is_chrome)
    assert kinds == ["skip", "slide", "-", "slide", "-", "subslide", "subslide", "-", "-"]


def test_a_notebook_without_a_heading_still_opens_on_a_slide():
    assert slides.slide_types([md("plain words"), new_code_cell("1")]) == ["slide", "-"]


@pytest.mark.parametrize("path", notebooks.chapter_paths(), ids=lambda p: p.name)
def test_every_chapter_is_a_slideshow_with_a_slide_per_section(path):
    """Every cell has a slide type; every `##` section opens a slide; no slide of the
    presentation is taller than the budget unless a single cell is."""
    nb = nbformat.read(path, as_version=4)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert None not in kinds and nb.metadata["rise"] == slides.RISE
    sections = sum(1 for c in nb.cells if slides.heading_level(c) in (1, 2))
    assert kinds.count("slide") == sections
    for shown in slides.slides(nb):
        rows = sum(slides.height(nb.cells[i]) for i in shown)
        assert rows <= slides.BUDGET or len(shown) == 1


def test_slide_metadata_is_regenerated_when_a_chapter_changes(tmp_path):
    """A chapter written without slide metadata is stale, and the normaliser adds it."""
    src = COURSE / "01-Virtio-Barriers.ipynb"
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
    nbformat.write(nb, tmp_path / src.name)
    assert notebooks.main(["--check", "--course", str(tmp_path)]) == 1
    assert notebooks.main(["--course", str(tmp_path)]) == 0
    again = nbformat.read(tmp_path / src.name, as_version=4)
    assert [c.metadata["slideshow"] for c in again.cells] == \
        [c.metadata["slideshow"] for c in nbformat.read(src, as_version=4).cells]


def minutes(table: str) -> list[int]:
    return [int(m) for m in re.findall(r"^\| \d:\d\d \| (\d+) \|", table, re.MULTILINE)]


def plan_of(course):
    nb = nbformat.read(course / notebooks.WORKSHOP, as_version=4)
    return [c.source for c in nb.cells if workshop.is_plan(c)]


def test_the_workshop_plan_is_generated_from_the_chapters_present():
    ninety, three, notes = plan_of(COURSE)
    assert sum(minutes(ninety)) == 90 and sum(minutes(three)) == 180
    for path in notebooks.chapter_paths():
        assert f"]({path.name})" in three and f"]({path.name})" in notes
        if (COURSE.parent / "exercises" / path.name).exists():
            assert f"(../exercises/{path.name})" in three
    assert "Stepper(" in notes and "SchedulerGame(" in notes


def test_the_plan_makes_room_for_chapters_three_to_five(tmp_path):
    """With the five bug chapters present, both outlines still fit their time, every
    chapter is in the 3-hour one, and a break appears; hand-written cells stay."""
    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    shutil.copytree(COURSE.parent / "exercises", tmp_path / "exercises")
    for name, title in [("03-Blockif-Cancel", "Chapter 3 — blockif_cancel"),
                        ("04-Lease-Livelock", "Chapter 4 — the lease livelock"),
                        ("05-Write-Lock-Rendezvous", "Chapter 5 — the rendezvous")]:
        nb = new_notebook(cells=[md(f"# {title}"), md("## 1. The symptom"),
                                 new_code_cell("game = SchedulerGame('x')\ngame.widget()")])
        nbformat.write(nb, course / f"{name}.ipynb")
    assert notebooks.main(["--course", str(course)]) == 0
    ninety, three, notes = plan_of(course)
    assert sum(minutes(ninety)) == 90 and sum(minutes(three)) == 180
    bugs_here = sum(1 for p in notebooks.chapter_paths() if not p.name.startswith("00-"))
    assert "Break" in three and ("Break" in plan_of(COURSE)[1]) == (bugs_here >= 3)
    for name in ("03-Blockif-Cancel", "04-Lease-Livelock", "05-Write-Lock-Rendezvous"):
        assert f"]({name}.ipynb)" in three and f"]({name}.ipynb)" in ninety
    assert "no exercise notebook yet" in notes
    text = (course / notebooks.WORKSHOP).read_text()
    assert "## Before the day" in text and "## After the session" in text
    assert notebooks.main(["--check", "--course", str(course)]) == 0


def test_the_contents_page_links_the_workshop_plan():
    index = nbformat.read(COURSE / notebooks.INDEX, as_version=4).cells[0].source
    assert f"]({notebooks.WORKSHOP})" in index


def slideshow_modules() -> set[str]:
    """The packages jupyterlab-rise's slideshow page shares with the extensions it
    loads: its own webpack build registers each one in the share scope by name and
    version (``register("@jupyterlab/notebook", "4.3.4", ...)`` in bundle.js)."""
    import jupyterlab_rise

    bundle = Path(jupyterlab_rise.__file__).parent / "static" / "bundle.js"
    return set(re.findall(r'\b\w\("(@?[\w.-]+(?:/[\w.-]+)?)","\d+\.\d+\.\d+[^"]*",\(',
                          bundle.read_text()))


def installed_labextension(name: str) -> dict:
    from jupyter_core.paths import jupyter_path

    for root in jupyter_path("labextensions"):
        path = Path(root, name, "package.json")
        if path.is_file():
            return json.loads(path.read_text())
    raise AssertionError(f"the labextension {name} is not installed")


def test_the_slideshow_page_shares_every_module_the_widget_manager_imports():
    """Widgets work in the slides only if the slideshow page can load the widget
    manager: every JupyterLab module it imports must be one the page shares. (From
    ipywidgets 8.1.3 on it also imports @jupyterlab/console, which the page of
    jupyterlab-rise 0.43.1 lacks; the browser test sees the consequence.)"""
    shared = slideshow_modules()
    assert {"@jupyterlab/notebook", "@jupyterlab/rendermime", "@lumino/widgets"} <= shared
    manager = installed_labextension("@jupyter-widgets/jupyterlab-manager")
    imports = {d for d in manager["dependencies"] if d.startswith(("@jupyterlab/", "@lumino/"))}
    missing = sorted(imports - shared)
    assert missing == [], (f"the widget manager {manager['version']} imports {missing}, which "
                           "jupyterlab-rise's slideshow page does not share: widgets would "
                           "show as text in the slides")
