"""The course notebooks: committed clean, chrome up to date, and every one runs top to bottom."""
import nbformat
import pytest

from simulator import notebooks

COURSE = notebooks.COURSE
ALL = sorted(COURSE.glob("*.ipynb"))


def test_the_course_has_an_introduction_and_chapter_one():
    """The chapters are numbered notebooks, starting with the introduction."""
    names = [p.name for p in notebooks.chapter_paths()]
    assert names[:2] == ["00-Introduction.ipynb", "01-Virtio-Barriers.ipynb"]


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_notebook_is_committed_without_outputs(path):
    """A committed notebook carries no outputs, execution counts or widget state."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert dirty == [] and "widgets" not in nb.metadata


def test_navigation_and_index_are_up_to_date():
    """Regenerating the chrome (python -m simulator.notebooks) changes nothing."""
    assert [p.name for p in notebooks.stale()] == []


def test_every_chapter_links_to_its_neighbours_and_the_contents():
    """Each chapter opens and closes with the same navigation cell."""
    chapters = notebooks.chapter_paths()
    for i, path in enumerate(chapters):
        cells = nbformat.read(path, as_version=4).cells
        nav = cells[0].source
        assert nav.startswith(notebooks.NAV_MARK) and cells[-1].source == nav
        assert f"]({notebooks.INDEX})" in nav
        if i + 1 < len(chapters):
            assert f"]({chapters[i + 1].name})" in nav


def test_check_mode_reports_a_stale_notebook(tmp_path):
    """``--check`` exits 1 when a chapter lacks its navigation, and writing fixes it."""
    src = COURSE / "00-Introduction.ipynb"
    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for c in nb.cells if not notebooks.is_chrome(c)]
    nbformat.write(nb, tmp_path / src.name)
    assert notebooks.main(["--check", "--course", str(tmp_path)]) == 1
    assert notebooks.main(["--course", str(tmp_path)]) == 0
    assert notebooks.main(["--check", "--course", str(tmp_path)]) == 0


@pytest.mark.notebooks
@pytest.mark.parametrize("path", notebooks.chapter_paths(),
                         ids=[p.name for p in notebooks.chapter_paths()])
def test_chapter_runs_top_to_bottom(path, monkeypatch):
    """Every cell of the chapter executes without an error, headless."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(COURSE)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []


def real_machine_section(nb):
    """The chapter's seeded first code cell and its real-machine section, alone."""
    first = next(c for c in nb.cells if c.cell_type == "code")
    start = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "markdown" and "The real machine" in c.source)
    end = next(i for i, c in enumerate(nb.cells)
               if i > start and c.cell_type == "markdown" and c.source.startswith("## "))
    nb.cells = [first] + nb.cells[start:end]
    return nb


@pytest.mark.notebooks
@pytest.mark.parametrize("name, experiments", [("01-Virtio-Barriers.ipynb", 2),
                                               ("02-PIR-Wakeups.ipynb", 3)])
def test_a_chapter_skips_the_real_machine_without_kvm(name, experiments, monkeypatch):
    """With KVM hidden, the guest experiments print why they were skipped; nothing raises."""
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HVRACES_NO_KVM", "1")
    nb = real_machine_section(nbformat.read(COURSE / name, as_version=4))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(COURSE)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert text.count("skipped: /dev/kvm is missing (hidden by HVRACES_NO_KVM=1)") == experiments
