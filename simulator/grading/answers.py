"""Answers as the grader receives them: plain data, or the source text of a class.

The same two functions serve the notebook's kernel and the autograder:
``payload(answer)`` turns what a grade cell passes into JSON, and
``last_binding(cells, name)`` finds, in a list of cell sources, the statement
that last bound a name — a class statement (its text is the answer), an
import (a copy of someone else's class, refused) or an assignment (its value,
if it is a literal). The kernel uses it on its input history when
``inspect`` cannot find a class's source; the autograder on the submitted
notebook's cells.
"""
from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
from dataclasses import dataclass

MAX_DEPTH = 8
SHIPPED = ("simulator",)  # classes from here are the course's own, never an answer


@dataclass(frozen=True)
class Binding:
    """The statement that last bound a name: its kind and its text."""

    kind: str  # "class", "function", "import", "assign"
    text: str  # the statement (class, function, import) or the assigned expression
    origin: str = ""  # for an import: "module.name"


def refused(reason: str) -> dict:
    return {"kind": "refused", "reason": reason}


def payload(answer: object, name: str = "") -> dict:
    """What a grade cell's answer becomes on its way to the sandbox."""
    if isinstance(answer, type):
        return class_payload(answer)
    if callable(answer) and not isinstance(answer, type):
        return refused(f"{getattr(answer, '__name__', 'this')} is a function; the answer is a "
                       "class or plain data")
    try:
        return {"kind": "data", "value": to_data(answer)}
    except TypeError as exc:
        return refused(str(exc))


def to_data(value: object, depth: int = 0):
    """``value`` as JSON data: sets become sorted lists, tuples lists."""
    if depth > MAX_DEPTH:
        raise TypeError("the answer is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (list, tuple)):
        return [to_data(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_data(v, depth + 1) for v in value]
        return sorted(items, key=repr)
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError("the answer's dict keys should be strings or integers")
        return {str(k): to_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, type(NotImplemented)) or value is Ellipsis:
        raise TypeError("the answer is not filled in yet")
    raise TypeError(f"the answer should be plain data (str, int, bool, list, dict, set) or a "
                    f"class, not {type(value).__name__}")


def class_payload(cls: type) -> dict:
    """The class's source text, or why it cannot be an answer."""
    module = getattr(cls, "__module__", "") or ""
    if module.split(".")[0] in SHIPPED:
        return refused(f"{cls.__name__} is the course's own class from {module}: write your "
                       "own (a copy of a shipped class is not an answer)")
    source = source_of(cls)
    if source is None:
        return refused(f"the source of class {cls.__name__} could not be found: define it in "
                       "a cell of this notebook and run that cell")
    return {"kind": "class", "name": cls.__name__, "source": source}


def source_of(cls: type) -> str | None:
    """The text of ``cls``'s class statement: from its file, the notebook's
    input history, or the cell its methods were compiled from."""
    try:
        text = textwrap.dedent(inspect.getsource(cls))
        if _defines(text, cls.__name__):
            return text
    except (OSError, TypeError):
        pass
    found = last_binding(history(), cls.__name__)
    if found is not None and found.kind == "class":
        return found.text
    return _from_methods(cls)


def history() -> list[str]:
    """The cells this IPython kernel ran, oldest first (empty outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    cells = shell.user_ns.get("In") or []
    return [c for c in cells if isinstance(c, str)]


def _from_methods(cls: type) -> str | None:
    """Find the class statement in the file (or cell) its methods were compiled from."""
    for value in vars(cls).values():
        code = getattr(value, "__code__", None)
        if code is None:
            continue
        text = "".join(linecache.getlines(code.co_filename))
        found = last_binding([text], cls.__name__)
        if found is not None and found.kind == "class":
            return found.text
    return None


def _defines(text: str, name: str) -> bool:
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return False
    return len(body) == 1 and isinstance(body[0], ast.ClassDef) and body[0].name == name


# ------------------------------------------------------------------ bindings
def parse_cell(source: str) -> tuple[str, ast.Module] | None:
    """A cell's code as Python (IPython magics turned into calls) and its tree, or None."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # no IPython, or a cell it cannot read: try it as plain Python
        pass
    try:
        return source, ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def last_binding(cells: list[str], name: str) -> Binding | None:
    """The last top-level statement in ``cells`` that binds ``name``."""
    found = None
    for source in cells:
        parsed = parse_cell(source)
        if parsed is None:
            continue
        text, tree = parsed
        for node in tree.body:
            found = _binding(node, name, text) or found
    return found


def _binding(node: ast.stmt, name: str, source: str) -> Binding | None:
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    if isinstance(node, ast.ClassDef) and node.name == name:
        return Binding("class", textwrap.dedent(text))
    if isinstance(node, ast.FunctionDef) and node.name == name:
        return Binding("function", textwrap.dedent(text))
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if bound == name:
                module = getattr(node, "module", None)
                origin = f"{module}.{alias.name}" if module else alias.name
                return Binding("import", text, origin)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value:
            return Binding("assign", ast.unparse(node.value))
    return None


def literal(binding: Binding | None):
    """The value of an assignment whose right-hand side is a literal; else raises ValueError."""
    if binding is None or binding.kind != "assign":
        raise ValueError("not an assignment")
    return ast.literal_eval(binding.text)
