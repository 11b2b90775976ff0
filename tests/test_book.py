"""The static book (make book): every page, with its outputs, readable with no kernel."""
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from simulator import book, notebooks

ROOT = notebooks.COURSE.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    book.build(out, log=lambda _: None)
    return out


def source_cells(path: Path, needle: str) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(needle in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.notebooks
def test_every_chapter_exercise_and_the_contents_have_a_page(built):
    for path in notebooks.chapter_paths():
        assert (built / f"{path.stem}.html").is_file()
    for path in (ROOT / "exercises").glob("*.ipynb"):
        assert (built / "exercises" / f"{path.stem}.html").is_file()
    assert (built / "index.html").is_file() and (built / "Workshop.html").is_file()


@pytest.mark.notebooks
@pytest.mark.parametrize("path", notebooks.chapter_paths(), ids=lambda p: p.name)
def test_a_chapter_page_has_its_outputs_figures_and_widget_stills(built, path):
    """Executed outputs are there: a figure per timeline drawn, a still per widget,
    no traceback, and no live widget view left that would need a kernel."""
    page = (built / f"{path.stem}.html").read_text(encoding="utf-8")
    figures = len(re.findall(r'<img[^>]*src="data:image/png;base64,', page))
    drawn = source_cells(path, "timeline(")
    assert figures >= drawn and (drawn > 0 or "Summary" in path.stem)  # the summary draws none
    assert len(re.findall(r"class=[\"']hvr-still[\"']", page)) == source_cells(path, ".widget()")
    assert "Traceback (most recent call last)" not in page
    assert book.WIDGET_VIEW not in page and "Error displaying widget" not in page
    assert "jp-OutputArea-output" in page  # outputs, not just source


@pytest.mark.notebooks
def test_the_book_links_resolve_and_load_nothing_from_the_web(built):
    for page in built.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", text), page
        for href in re.findall(r"href=['\"]([^'\"#?]+)['\"]", text):
            if href.startswith(("http://", "https://", "mailto:")):
                continue
            assert not href.endswith(".ipynb"), (page.name, href)
            if href.endswith(".html"):
                assert (page.parent / href).resolve().is_file(), (page.name, href)


def test_a_chapter_that_raises_stops_the_build_with_one_line(tmp_path, capsys):
    """A failing cell is a build error naming the chapter, not a page with a traceback."""
    course = tmp_path / "course"
    course.mkdir()
    (tmp_path / "exercises").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Broken"), new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, course / "00-Broken.ipynb")
    shutil.copy(notebooks.COURSE / notebooks.INDEX, course / notebooks.INDEX)
    with pytest.raises(book.BookError, match="00-Broken.ipynb failed.*ZeroDivisionError"):
        book.build(tmp_path / "out", root=tmp_path, log=lambda _: None)
    assert book.main(["--timeout", "0"]) == 2
    assert "positive" in capsys.readouterr().err
