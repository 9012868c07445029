"""The house rules of `pneumo_desktop/`: imports run one way between packages, no import cycle
(imports inside functions count), Qt only in `gui/`, never TensorFlow or Keras in `gui/`, and
folders and files small enough to read."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pneumo_desktop"
FOUNDATION = {"pneumo_desktop", "pneumo_desktop.errors", "pneumo_desktop.paths",
              "pneumo_desktop.atomic", "pneumo_desktop.__main__"}
#: package -> the packages it may import (besides itself and the foundation modules)
ALLOWED = {
    "imaging": set(),
    "model": {"imaging"},
    "evaluation": {"imaging", "model"},
    "training": {"imaging", "model", "evaluation"},
    "intake": {"imaging", "model", "evaluation"},
    "monitoring": {"imaging", "model", "evaluation", "intake"},
    "compute": {"imaging", "model", "evaluation", "training", "intake", "monitoring"},
    "gui": {"imaging", "model", "evaluation", "training", "intake", "compute", "monitoring"},
    "cli": {"imaging", "model", "evaluation", "training", "intake", "compute", "gui",
            "monitoring"},
}
#: gui subpackage -> the gui subpackages it may import (every one may import the gui modules
#: at the top of gui/, which import none of them, except the entry points in GUI_ENTRY_POINTS)
GUI_ALLOWED = {
    "viewer": set(),
    "batch": {"viewer"},
    "intake": set(),
    "wizard": set(),
    "monitoring": set(),
    "window": {"viewer", "batch", "intake", "wizard", "monitoring"},
}
GUI_ENTRY_POINTS = {"pneumo_desktop.gui.app", "pneumo_desktop.gui.screenshot"}
QT = ("PySide6", "shiboken6", "superqt", "matplotlib.backends.backend_qtagg")
TENSORFLOW = ("tensorflow", "keras", "tf_keras")
MAX_MODULES = 15
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: dict[str, Path], top_level_only: bool = False) -> set[str]:
    """Modules of ours and third-party top names that `path` imports (in functions too, unless
    `top_level_only`; imports under `if TYPE_CHECKING:` never run and are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if top_level_only and nested:
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
                    base = base[:len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else target)
            visit(child, nested)

    visit(tree, False)
    return found


def package_of(module: str) -> str | None:
    if module in FOUNDATION:
        return None
    return module.split(".")[1]


def ours(graph_targets: set[str], known: dict[str, Path]) -> set[str]:
    return {t for t in graph_targets if t in known}


def graph(top_level_only: bool = False) -> dict[str, set[str]]:
    known = modules()
    return {m: ours(imports(p, known, top_level_only), known) for m, p in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search, colours)."""
    colour: dict[str, int] = defaultdict(int)
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt == node:
                continue
            if colour[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == 0 and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        colour[node] = 2
        return None

    for start in sorted(edges):
        if colour[start] == 0 and (cycle := dfs(start)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_run_one_way_between_packages():
    wrong = []
    for module, targets in graph().items():
        mine = package_of(module)
        if mine is None:
            assert all(package_of(t) is None for t in targets) or module.endswith("__main__"), \
                f"{module} is a foundation module and imports {targets}"
            continue
        for target in targets:
            theirs = package_of(target)
            if theirs not in (None, mine) and theirs not in ALLOWED[mine]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def gui_part(module: str) -> str | None:
    """The gui subpackage of a gui module ('' for a module at the top of gui/), else None."""
    parts = module.split(".")
    if parts[:2] != ["pneumo_desktop", "gui"]:
        return None
    return parts[2] if len(parts) > 3 else ""


def test_gui_subpackages_import_one_way():
    wrong = []
    for module, targets in graph().items():
        mine = gui_part(module)
        if mine is None or module in GUI_ENTRY_POINTS:
            continue
        for target in targets:
            theirs = gui_part(target)
            if theirs and theirs != mine and theirs not in GUI_ALLOWED.get(mine, set()):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "gui imports against the layering:\n" + "\n".join(sorted(wrong))


def test_gui_subpackages_say_what_they_hold():
    for sub in GUI_ALLOWED:
        doc = ast.get_docstring(ast.parse((PACKAGE / "gui" / sub / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"gui/{sub}/__init__.py needs a docstring: what it holds"
    found = {p.parent.name for p in (PACKAGE / "gui").glob("*/__init__.py")}
    assert found == set(GUI_ALLOWED), f"gui subpackages {found} != GUI_ALLOWED"


def test_qt_only_in_gui():
    known = modules()
    wrong = [f"{m} imports {t}" for m, p in known.items() if package_of(m) not in ("gui", "cli")
             for t in imports(p, known) if t.startswith(QT)]
    assert not wrong, "\n".join(wrong)


def test_gui_never_imports_tensorflow_or_keras():
    """Neither directly (even in a function) nor through a module it imports at load time."""
    known = modules()
    direct = [f"{m} imports {t}" for m, p in known.items() if package_of(m) == "gui"
              for t in imports(p, known) if t.split(".")[0] in TENSORFLOW]
    assert not direct, "\n".join(direct)
    loads_tf = {m for m, p in known.items()
                if any(t.split(".")[0] in TENSORFLOW for t in imports(p, known, True))}
    edges = graph(top_level_only=True)
    for start in (m for m in known if package_of(m) == "gui"):
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            assert m not in loads_tf, f"{start} loads {m}, which imports TensorFlow/Keras"
            todo.extend(edges.get(m, ()))


def test_folders_and_files_stay_small():
    counts: dict[Path, int] = defaultdict(int)
    for p in PACKAGE.rglob("*.py"):
        if p.name != "__init__.py":
            counts[p.parent] += 1
        lines = len(p.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{p.relative_to(PACKAGE)}: {lines} lines"
    crowded = {str(d.relative_to(PACKAGE.parent)): n for d, n in counts.items() if n > MAX_MODULES}
    assert not crowded, crowded


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert doc and len(doc) > 80, f"{package}/__init__.py needs a docstring: what it holds"
