"""Rebuilding a student's class from its source text, inside the grading sandbox.

The grader never receives a student's objects, only the text of the answer
(``class FixedPIR(PostedInterrupts): ...``). Before running it, the text is
read and held to a few rules, each refused with a one-line reason:

- it is one class, derived from the exercise's base class, which defines at
  least one of the hooks the exercise asks for itself (a subclass of, or an
  import of, the shipped fix is not an answer);
- no imports, no ``global``/``nonlocal``, no names or attributes in dunder
  form (``__class__``, ``__globals__``...) except ``__init__``, no attribute
  set on anything but ``self``; only the names the exercise notebook imports
  and a plain set of builtins exist while it runs.

Then the text is instrumented, so that a loop cannot run forever without the
grader noticing: every loop body and every comprehension counts an iteration
(``__hvr_tick__``), and every value the answer yields passes ``__hvr_op__``,
which starts the count afresh when it is an op (control goes back to the
simulated machine). More than ``MAX_ITERATIONS`` iterations between two ops
ends the check — deterministically, however fast the machine — and so does a
student ``except BaseException:`` around it, because the sandbox then writes
its verdict and exits the process. A thread that yields ops forever is the
Machine's step budget's business.
"""
from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from types import SimpleNamespace

from simulator.engine import ops
from simulator.grading.exercise import ClassAnswer

MAX_ITERATIONS = 100_000  # loop iterations an answer may run between two ops
TICK, OP = "__hvr_tick__", "__hvr_op__"
ALLOWED_DUNDERS = frozenset({"__init__"})
SAFE_BUILTINS = (
    "abs", "all", "any", "bin", "bool", "chr", "dict", "divmod", "enumerate", "filter",
    "frozenset", "hex", "int", "isinstance", "len", "list", "map", "max", "min", "next", "oct",
    "ord", "pow", "print", "range", "repr", "reversed", "round", "set", "sorted", "str", "sum",
    "super", "tuple", "zip", "property", "staticmethod", "classmethod", "object",
    "ArithmeticError", "AssertionError", "BaseException", "Exception", "GeneratorExit",
    "IndexError", "KeyError", "KeyboardInterrupt", "LookupError", "NotImplementedError",
    "OverflowError", "RuntimeError", "StopIteration", "SystemExit", "TypeError", "ValueError",
    "ZeroDivisionError",
)
REFUSED_BUILTINS = frozenset({
    "eval", "exec", "compile", "open", "input", "breakpoint", "globals", "locals", "vars",
    "getattr", "setattr", "delattr", "type", "memoryview", "help", "exit", "quit", "dir",
})
# Attributes that reach interpreter internals without a dunder: frames, code
# objects, and str.format (whose fields can name attributes of its arguments).
REFUSED_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
    "ag_code", "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "f_trace",
    "tb_frame", "tb_next", "format", "format_map", "mro",
})
OP_KINDS = frozenset(v for k, v in vars(ops).items() if k.isupper() and isinstance(v, str))


class AnswerError(Exception):
    """The answer's text breaks one of the rules; the message says which."""


# ------------------------------------------------------------------ the rules
def check_source(source: str, spec: ClassAnswer) -> ast.ClassDef:
    """Parse ``source`` and hold it to the rules; return its class statement."""
    if not isinstance(source, str) or not source.strip():
        raise AnswerError("the answer's source text is empty")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise AnswerError(f"the answer does not parse: {exc.msg} (line {exc.lineno})") from None
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    others = [n for n in tree.body if not isinstance(n, ast.ClassDef)]
    if len(classes) != 1 or others:
        raise AnswerError("the answer should be one class statement and nothing else")
    cls = classes[0]
    _check_class_head(cls, spec)
    for node in ast.walk(tree):
        _check_node(node, spec)
    return cls


def _check_class_head(cls: ast.ClassDef, spec: ClassAnswer) -> None:
    base = spec.base.__name__
    if cls.decorator_list or cls.keywords:
        raise AnswerError(f"{cls.name} should be a plain class: no decorators, no metaclass")
    names = [ast.unparse(b) for b in cls.bases]
    if names != [base]:
        got = ", ".join(names) or "nothing"
        raise AnswerError(f"{cls.name} should derive from {base} alone, not from {got}: "
                          f"write the fix yourself, starting from the buggy {base}")
    defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    if not defined & set(spec.hooks):
        raise AnswerError(f"{cls.name} should define {' or '.join(spec.hooks)} itself "
                          f"(a def in the class)")


def _check_node(node: ast.AST, spec: ClassAnswer) -> None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        raise AnswerError("an answer has no imports: use the names the notebook's first "
                          "cell imports")
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        raise AnswerError(f"line {node.lineno}: no global or nonlocal in an answer")
    if isinstance(node, (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)):
        raise AnswerError(f"line {node.lineno}: no async code in an answer")
    if isinstance(node, ast.Name):
        _check_name(node.id, node)
        if node.id in REFUSED_BUILTINS and isinstance(node.ctx, ast.Load):
            raise AnswerError(f"line {node.lineno}: {node.id} is not available in an answer")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, str) and _dunder(node.value.strip()):
            raise AnswerError(f"line {node.lineno}: the string {node.value!r} is off limits "
                              "in an answer")
    elif isinstance(node, ast.Attribute):
        if (_dunder(node.attr) and not _super_init(node)) or node.attr in REFUSED_ATTRIBUTES:
            raise AnswerError(f"line {node.lineno}: .{node.attr} is off limits in an answer")
        if isinstance(node.value, ast.Name) and node.value.id == "ops" and node.attr in spec.forbid:
            raise AnswerError(f"line {node.lineno}: ops.{node.attr} is not allowed here: "
                              f"{spec.why_forbidden}")
    elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        _check_name(node.name, node)
    elif isinstance(node, ast.arg):
        _check_name(node.arg, node)
    elif isinstance(node, (ast.Assign, ast.Delete)):
        for target in node.targets:
            _check_target(target)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.comprehension)):
        _check_target(node.target)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        _check_target(node.optional_vars)


def _check_name(name: str, node: ast.AST) -> None:
    if _dunder(name) and name not in ALLOWED_DUNDERS:
        raise AnswerError(f"line {getattr(node, 'lineno', '?')}: the name {name} is off limits "
                          "in an answer")


def _check_target(target: ast.AST) -> None:
    """Assignments go to local names, ``self.<attr>``, or items of those."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _check_target(t)
    elif isinstance(target, ast.Starred):
        _check_target(target.value)
    elif isinstance(target, ast.Attribute):
        if not (isinstance(target.value, ast.Name) and target.value.id == "self"):
            raise AnswerError(f"line {target.lineno}: an answer may set attributes of self "
                              f"only, not {ast.unparse(target)}")


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _super_init(node: ast.Attribute) -> bool:
    """``super().__init__``: the one dunder attribute an answer may use."""
    return (node.attr == "__init__" and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "super")


# ------------------------------------------------------------ instrumenting
class _Instrument(ast.NodeTransformer):
    """Count loop iterations; start the count afresh at each op yielded."""

    def _tick(self) -> ast.stmt:
        return ast.Expr(ast.Call(ast.Name(TICK, ast.Load()), [], []))

    def _loop(self, node):
        self.generic_visit(node)
        node.body.insert(0, self._tick())
        return node

    visit_For = visit_While = _loop

    def visit_comprehension(self, node):
        self.generic_visit(node)
        node.ifs.append(ast.Call(ast.Name(TICK, ast.Load()), [], []))
        return node

    def visit_Yield(self, node):
        self.generic_visit(node)
        value = node.value or ast.Constant(None)
        node.value = ast.Call(ast.Name(OP, ast.Load()), [value], [])
        return node


def instrument(tree: ast.Module) -> ast.Module:
    return ast.fix_missing_locations(_Instrument().visit(tree))


class LoopGuard:
    """The two functions the instrumented answer calls; ``on_spin`` ends the check."""

    def __init__(self, on_spin: Callable[[str], None], limit: int = MAX_ITERATIONS):
        self.count = 0
        self.limit = limit
        self.on_spin = on_spin

    def tick(self) -> bool:
        self.count += 1
        if self.count > self.limit:
            self.on_spin(f"the answer's code ran more than {self.limit:,} loop iterations "
                         "without yielding an op: a loop that never ends?")
        return True

    def op(self, value):
        if type(value) is tuple and len(value) == 5 and value[0] in OP_KINDS:
            self.count = 0
        return value


# ----------------------------------------------------------------- building
def ops_namespace() -> SimpleNamespace:
    """The op constructors, as ``ops.load(...)`` in the notebook, and nothing else."""
    public = {k: v for k, v in vars(ops).items() if callable(v) and not k.startswith("_")
              and getattr(v, "__module__", "") == ops.__name__}
    return SimpleNamespace(**public)


def safe_builtins(printer: Callable[..., None]) -> dict:
    names = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    names["print"] = printer
    names["__build_class__"] = builtins.__build_class__
    return names


def build_class(source: str, spec: ClassAnswer, namespace: dict, guard: LoopGuard,
                printer: Callable[..., None]) -> type:
    """The class ``source`` defines, built under the rules, in ``namespace``."""
    cls_node = check_source(source, spec)
    tree = instrument(ast.parse(source))
    code = compile(tree, f"<answer {cls_node.name}>", "exec")
    scope = {**namespace, "__builtins__": safe_builtins(printer), "__name__": "answer",
             TICK: guard.tick, OP: guard.op}
    exec(code, scope)  # noqa: S102 - the answer's text, checked above, in its own scope
    cls = scope.get(cls_node.name)
    if not (isinstance(cls, type) and issubclass(cls, spec.base)):
        raise AnswerError(f"{cls_node.name} did not come out as a subclass of "
                          f"{spec.base.__name__}")
    return cls
