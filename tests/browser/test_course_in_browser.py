"""The course as a student meets it: JupyterLab in a real browser.

Every chapter runs top to bottom through Run All; the widgets render and
answer clicks; a chapter's link opens its exercise; nbgrader's Validate button
grades an exercise; each chapter is a slideshow whose widgets are live (run
beforehand in the notebook, or run in the slideshow itself). Waits are generous
hang guards (a busy 2-core machine), and every assertion is about what happened,
never how fast.
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


# jupyterlab-rise 0.43.1 shows slides in a page of its own: a separate build that
# bundles JupyterLab 4.3's modules and loads every installed extension into it. Those
# built against JupyterLab 4.6 (nbgrader's, Notebook 7's) find no module of the
# version they need and fail to load there (#RUNTIME-012, "before initialization");
# neither is needed in slides. The page's own theme tokens recurse ("Maximum call
# stack": every frame of those is in the page's bundle). Each pattern is the page's,
# not the course's; any other error fails the test. The widget manager is not among
# them: it loads there (pyproject.toml pins the widgets for that), and an error of its
# ("Shared module ... doesn't exist in shared scope") fails the test.
RISE_UPSTREAM = (
    r"#RUNTIME-012", r"Cannot access '\w+' before initialization",
    r"Maximum call stack size exceeded",
    RISE_OPTIONAL_CSS,  # RISE asks for optional rise.css and <notebook>.css; we ship none
)
SLIDE_WIDGETS = ".reveal .jp-OutputArea-output .jupyter-widgets.widget-vbox"


def open_slideshow(page, lab, path: str) -> None:
    """The notebook's slideshow in a tab of its own (RISE's "Open as Reveal Slideshow"),
    on the notebook's own kernel."""
    page.goto(f"{lab.base}/rise/{path}?token={lab.token}")
    page.locator(".reveal .slides > section").first.wait_for()


def preview_slideshow(page):
    """Alt+R in the notebook on screen, as a host presents: RISE saves the notebook and
    shows its slides beside it (a frame in the page, on the notebook's kernel), at
    the slide of the selected cell. Returns that frame."""
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell .jp-InputPrompt").first.click()  # the first slide
    page.keyboard.press("Escape")  # command mode: Alt+R is a notebook shortcut
    page.keyboard.press("Alt+r")
    frame = page.locator("iframe[src*='/rise/']").element_handle().content_frame()
    frame.locator(".reveal .slides > section").first.wait_for()
    return frame


PRESENT = """() => {
  const stack = document.querySelector('.reveal .slides > section.present');
  const sub = stack && stack.querySelector(':scope > section.present');
  return stack ? [[...stack.parentNode.children].indexOf(stack),
                  sub ? [...stack.children].indexOf(sub) : -1].join() : '';
}"""


ON_SLIDE = """el => {  // in the slide on screen: reveal keeps its neighbours in the DOM
  const slide = el.closest('section'), stack = slide && slide.parentElement.closest('section');
  return !!slide && slide.classList.contains('present')
         && (stack === null || stack.classList.contains('present'));
}"""


def slide_to(page, target, bound: int, slides=None) -> None:
    """Press Space (the next slide or sub-slide) until ``target`` is on the slide on
    screen, at most ``bound`` times; each press waits until reveal shows the next.
    ``slides``: the frame that shows them, if not the page itself."""
    slides = slides or page
    slides.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(bound):
        if target.evaluate(ON_SLIDE):
            return
        here = slides.evaluate(PRESENT)
        page.keyboard.press("Space")
        slides.wait_for_function(f"old => ({PRESENT})() !== old", arg=here)
    assert target.evaluate(ON_SLIDE), f"not on any of {bound} slides"


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
    stays clean. Then the chapter as slides: every widget displays there too, as a
    widget (from the same kernel), not as text."""
    saved = lab.root / "course" / name
    try:
        open_notebook(page, lab, f"course/{name}")
        run_all(page)
        save(page)
        errors = error_outputs(saved)
        assert errors == []
        html = page.content()
        assert "Error displaying widget" not in html
        widgets = widget_cells(notebooks.COURSE / name)
        shown = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").count()
        assert shown >= widgets
        assert console.errors() == []

        heard = len(console.messages)
        open_slideshow(page, lab, f"course/{name}")
        page.wait_for_function(
            f"n => document.querySelectorAll({SLIDE_WIDGETS!r}).length >= n", arg=widgets)
        assert "Error displaying widget" not in page.content()
        assert console.errors(RISE_UPSTREAM, since=heard) == []
    finally:
        shutil.copy(notebooks.COURSE / name, saved)  # clean again for the next test


def stepper_moves_on(stepper) -> None:
    """Click "one step forward" on a stepper on screen: the kernel answers, the line
    becomes the step just taken and the slider's readout counts one more. (The line's
    element is replaced on each change, so it is looked up afresh while waiting.)"""
    from playwright.sync_api import expect

    line, readout = stepper.locator("pre").first, stepper.locator(".widget-readout").first
    before, at = line.inner_text(), int(readout.inner_text())
    stepper.locator("button[title='one step forward']").click()
    expect(line).not_to_have_text(before, timeout=120_000)
    # position k shows step k - 1: one step on, the line is the step just taken
    assert int(readout.inner_text()) == at + 1
    assert line.inner_text().startswith(f"[{at:>3}]")


def test_the_stepper_and_the_scheduler_game_answer_clicks(page, lab, console):
    """In the introduction: "one step forward" takes the stepper one step on; a move in the game is
    counted; "show me" plays the explorer's breaking schedule, and the reader wins."""
    open_notebook(page, lab, "course/00-Introduction.ipynb")
    run_all(page)
    forward = "button[title='one step forward']"  # the stepper's icon buttons have tooltips
    stepper_moves_on(page.locator(".widget-vbox").filter(has=page.locator(forward)).last)

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


@pytest.mark.parametrize("name", CHAPTERS[:2])
def test_a_chapter_is_a_slideshow(page, lab, console, name):
    """jupyterlab-rise shows the chapter as slides: one per slide cell of the metadata,
    the first the chapter's title; Space moves to the next (sub-)slide."""
    nb = nbformat.read(notebooks.COURSE / name, as_version=4)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    open_slideshow(page, lab, f"course/{name}")
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


def test_the_widgets_of_a_chapter_run_beforehand_answer_clicks_in_its_slides(
        page, lab, console):
    """The host's way (course/Workshop.ipynb): Run All in the notebook, then Alt+R. In
    the introduction's slides the stepper steps and the scheduler game counts a move."""
    name = "00-Introduction.ipynb"
    try:
        open_notebook(page, lab, f"course/{name}")
        run_all(page)
        heard = len(console.messages)
        shown = preview_slideshow(page)
        bound = len(slides.slides(nbformat.read(notebooks.COURSE / name, as_version=4)))
        forward = "button[title='one step forward']"
        stepper = shown.locator(SLIDE_WIDGETS).filter(has=shown.locator(forward)).last
        slide_to(page, stepper.locator(forward), bound, shown)
        stepper_moves_on(stepper)

        game = shown.locator(SLIDE_WIDGETS).filter(
            has=shown.locator(".widget-button", has_text="show me")).last
        move = game.locator(".widget-button", has_text=":").first
        slide_to(page, move, bound, shown)
        banner = game.locator(".widget-html").first
        assert "Your move (0 so far)" in banner.inner_text()
        move.click()
        banner.get_by_text("Your move (1 so far)").wait_for()
        assert console.errors(RISE_UPSTREAM, since=heard) == []
    finally:  # RISE saved the notebook with its outputs: clean again for the next test
        shutil.copy(notebooks.COURSE / name, lab.root / "course" / name)


def test_a_widget_cell_run_in_the_slideshow_renders_and_answers_clicks(page, lab, console):
    """Run in the slides themselves (Shift+Enter), a stepper shows as a widget, not as
    text, and steps at the first click (slides.RISE keeps the slide from moving
    under the pointer when that click selects the widget's cell)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Widgets in slides"),
        nbformat.v4.new_code_cell(
            "from simulator.viz import Stepper, counterexample\n"
            "Stepper(counterexample('virtio-barriers')).widget()")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(slides.with_slides(nb), lab.root / "course" / "widget-slide.ipynb")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    open_slideshow(page, lab, "course/widget-slide.ipynb")
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
    stepper = page.locator(SLIDE_WIDGETS).first
    stepper.wait_for()
    assert "Stepper" not in output.inner_text() and "VBox(" not in output.inner_text()
    slide_to(page, stepper.locator("button[title='one step forward']"), 3)
    stepper_moves_on(stepper)
    assert console.errors(RISE_UPSTREAM) == []
