"""The course as a student meets it: JupyterLab in a real browser.

Every chapter runs top to bottom through Run All; the widgets render and
answer clicks; a chapter's link opens its exercise; nbgrader's Validate button
grades an exercise; each chapter is a slideshow. Waits are generous hang guards
(a busy 2-core machine), and every assertion is about what happened, never how
fast.
"""
from __future__ import annotations

import shutil

import nbformat
import pytest

from simulator import notebooks, slides

RUN_TIMEOUT = 900_000  # ms: Run All of the longest chapter on a busy machine, with room
CHAPTERS = [p.name for p in notebooks.chapter_paths()]
ALL_DONE = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) '
                                                + '.jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
# Known, harmless console errors, each with its reason. Nothing else may appear.
RISE_OPTIONAL_CSS = r"Refused to apply style from '.*/files/course/[\w.-]+\.css'"


def open_notebook(page, lab, path: str) -> None:
    page.goto(lab.url(path))
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.wait_for()
    # The kernel is up once the toolbar's kernel status says idle.
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                 ".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()


STARTED = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) '
                                         + '.jp-CodeCell .jp-InputPrompt')]
                  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


def run_all(page) -> None:
    """Run every cell; wait until each code cell shows its execution count. The
    notebook must open clean, so that only this run's counts can satisfy the wait."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert page.evaluate(ALL_DONE) is False, "the notebook opened with outputs"
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    for attempt in range(3):
        # Run All acts on the notebook that has the focus: give it the focus first.
        panel.locator(".jp-Cell .jp-InputPrompt").first.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(STARTED, timeout=60_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise AssertionError("Run All did not start a cell (timed out, 3 tries)") \
                    from None
    page.wait_for_function(ALL_DONE, timeout=RUN_TIMEOUT)


def save(page) -> None:
    page.keyboard.press("Control+s")
    page.locator(".jp-mod-current.jp-mod-dirty").wait_for(state="detached")


def error_outputs(path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def widget_cells(path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(".widget()" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_all_in_the_browser_without_errors(page, lab, console, name):
    """Run All: every cell runs, no error output, every widget displays, the console
    stays clean."""
    open_notebook(page, lab, f"course/{name}")
    run_all(page)
    save(page)
    saved = lab.root / "course" / name
    errors = error_outputs(saved)
    shutil.copy(notebooks.COURSE / name, saved)  # clean again for the next test
    assert errors == []
    html = page.content()
    assert "Error displaying widget" not in html
    shown = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").count()
    assert shown >= widget_cells(notebooks.COURSE / name)
    assert console.errors() == []


def test_the_stepper_and_the_scheduler_game_answer_clicks(page, lab, console):
    """In the introduction: "one step forward" takes the stepper one step on; a move in the game is
    counted; "show me" plays the explorer's breaking schedule, and the reader wins."""
    open_notebook(page, lab, "course/00-Introduction.ipynb")
    run_all(page)
    forward = "button[title='one step forward']"  # the stepper's icon buttons have tooltips
    stepper = page.locator(".widget-vbox").filter(has=page.locator(forward)).last
    line, readout = stepper.locator("pre").first, stepper.locator(".widget-readout").first
    before, at = line.inner_text(), int(readout.inner_text())
    stepper.locator(forward).click()
    # the widget replaces its <pre> on each update: ask the box that stays for its current one
    # (a handle on the old <pre> would keep its old text forever once the kernel answers)
    page.wait_for_function("([box, old]) => box.querySelector('pre').innerText !== old",
                           arg=[stepper.element_handle(), before])
    # position k shows step k - 1: one step on, the line is the step just taken
    assert int(readout.inner_text()) == at + 1
    assert line.inner_text().startswith(f"[{at:>3}]")

    game = page.locator(".widget-vbox").filter(
        has=page.locator(".widget-button", has_text="show me")).last
    banner = game.locator(".widget-html").first
    assert "Your move (0 so far)" in banner.inner_text()
    game.locator(".widget-button", has_text=":").first.click()
    banner.get_by_text("Your move (1 so far)").wait_for()
    game.locator(".widget-button", has_text="show me").click()
    banner.get_by_text("You win: the system broke").wait_for(timeout=300_000)
    assert console.errors() == []


def test_a_chapter_links_to_its_exercise(page, lab, console):
    """Chapter 1's link to its exercises opens exercises/01-... in JupyterLab."""
    name = "01-Virtio-Barriers.ipynb"
    open_notebook(page, lab, f"course/{name}")
    # JupyterLab renders the relative link as /files/exercises/...; clicking it opens
    # the notebook in a new tab of JupyterLab itself.
    page.get_by_role("link", name=f"exercises/{name}").first.click()
    heading = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) h1").first
    heading.get_by_text("Exercises 1").wait_for()
    assert page.url.endswith(f"/tree/exercises/{name}")
    assert console.errors() == []


def validate(page, lab, path: str) -> str:
    open_notebook(page, lab, path)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").get_by_role(
        "button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Validation Results").wait_for(timeout=600_000)
    return dialog.inner_text()


def test_nbgrader_validate_fails_the_stubs_and_passes_the_solution(page, lab, console):
    """The Validate button (nbgrader's labextension): the student's untouched exercise
    fails every grade cell; the solution (where this copy has it) passes them all."""
    text = validate(page, lab, "exercises/01-Virtio-Barriers.ipynb")
    grade_cells = sum(bool(c.metadata.get("nbgrader", {}).get("grade")) for c in nbformat.read(
        lab.root / "exercises" / "01-Virtio-Barriers.ipynb", as_version=4).cells)
    assert grade_cells > 0 and text.count("The following cell failed") == grade_cells
    assert console.errors() == []
    if not (lab.root / "solutions").is_dir():
        return  # a student copy: no solution to pass
    page.keyboard.press("Escape")
    text = validate(page, lab, "solutions/01-Virtio-Barriers.ipynb")
    assert "Success" in text and "failed" not in text
    assert console.errors() == []


# jupyterlab-rise 0.43 opens slides in a page of its own that loads every installed
# JupyterLab extension; built against JupyterLab 4.0, it cannot share some of 4.6's
# modules with them (nbgrader's, the notebook's, the widget manager's). Those errors
# are the extension's, not the course's; they are listed here so that any other
# error still fails the test.
RISE_UPSTREAM = (
    r"#RUNTIME-012", r"Cannot access '\w+' before initialization",
    r"Shared module @jupyterlab/\w+ doesn't exist in shared scope",
    r"Maximum call stack size exceeded",
    RISE_OPTIONAL_CSS,  # RISE asks for optional rise.css and <notebook>.css; we ship none
)


@pytest.mark.parametrize("name", CHAPTERS[:2])
def test_a_chapter_is_a_slideshow(page, lab, console, name):
    """jupyterlab-rise shows the chapter as slides: one per slide cell of the metadata,
    the first the chapter's title; Space moves to the next (sub-)slide."""
    nb = nbformat.read(notebooks.COURSE / name, as_version=4)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    page.goto(f"{lab.base}/rise/course/{name}?token={lab.token}")
    page.locator(".reveal .slides > section").first.wait_for()
    page.wait_for_function("n => document.querySelectorAll('.reveal .slides > section')"
                           ".length === n", arg=kinds.count(slides.SLIDE))
    present = page.locator(".reveal .slides > section.present")
    assert read_chapter_title(name).lower() in present.inner_text().lower()
    page.keyboard.press("Space")
    page.wait_for_function("""() => {
      const stack = document.querySelector('.reveal .slides > section.present');
      const now = stack && stack.querySelector(':scope > section.present');
      return now !== null && [...stack.children].indexOf(now) === 1; }""")
    assert console.errors(RISE_UPSTREAM) == []


def read_chapter_title(name: str) -> str:
    return notebooks.read_chapter(notebooks.COURSE / name).title


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="jupyterlab-rise 0.43's slideshow page cannot load JupyterLab "
                   "4.6's widget manager: widgets show as text there (README)")
def test_widgets_render_in_the_slideshow(page, lab):
    """A widget run in the slideshow renders as a widget. Strict: when jupyterlab-rise
    learns to, this passes, fails as an unexpected pass, and the README should change."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Widgets in slides"),
        nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.Button(description='press')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(slides.with_slides(nb), lab.root / "course" / "widget-slide.ipynb")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{lab.base}/rise/course/widget-slide.ipynb?token={lab.token}")
    output = page.locator(".reveal .jp-OutputArea-output").first
    for attempt in range(3):  # the slideshow's kernel may not be ready for the first try
        page.locator(".reveal .jp-CodeCell").first.click()
        page.keyboard.press("Shift+Enter")
        try:
            output.wait_for(timeout=60_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                pytest.fail("the slideshow ran no cell (timed out, 3 tries)")
    assert page.locator(".reveal .widget-button").count() >= 1
