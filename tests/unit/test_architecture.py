"""The dependency order of docs/architecture.md, checked by reading every module's imports.

    core <- donors <- imaging <- classification <- workup <- reports

A module of one app imports only modules of its own app and of the apps before it; no two modules import
each other, directly or round a longer circle; a pure core imports no Django, not even through the modules it
imports. Every import counts: at the top of a module, inside a function, under `if TYPE_CHECKING`. An import
of `a.b.c` is an edge to the module `a.b.c` alone (Python also runs the packages `a` and `a.b`, but a
package's `__init__` importing its own submodules is no circle). config/, tests/ and bench/ stand outside the
order; an app that does not exist (yet) is simply absent.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "donors", "imaging", "classification", "workup", "reports")
# A name ending in "." covers a package and every module under it.
PURE_CORES = (
    "classification.anatomy",
    "classification.exits",
    "classification.variants",
    "classification.validation",
    "classification.document",
    "classification.prediction",
    "classification.systems.",
    "classification.presets",
    "classification.results",
    "classification.beta",
    "classification.outcomes",
    "classification.diagram",
    "imaging.dicom.",
    "imaging.identity",
    "reports.fhir.mapping",
    "imaging.tree.",
    "reports.statistics",
    "reports.dicom_pdf",
    "reports.dicom_sr",
    "workup.criteria.",
)
FRAMEWORKS = frozenset(
    {
        "django",
        "rest_framework",
        "drf_spectacular",
        "django_filters",
        "simple_history",
        "axes",
        "csp",
        "environ",
        "whitenoise",
        "celery",
    }
)


@dataclass(frozen=True)
class Import:
    source: str
    target: str  # one of our modules, or the top-level name of a library
    line: int

    @property
    def where(self) -> str:
        return f"{self.source} (line {self.line})"


def app_of(module: str) -> str:
    return module.split(".", 1)[0]


def find_modules(root: Path, apps: Iterable[str] = APPS) -> dict[str, Path]:
    """Every module of the apps present under `root`, by dotted name."""
    modules = {}
    for app in apps:
        if not (root / app / "__init__.py").is_file():
            continue
        for path in sorted((root / app).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def nearest_module(name: str, modules: dict[str, Path]) -> str:
    """`name` itself when it is one of our modules, else its longest prefix that is (an imported name)."""
    while name and name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def read_imports(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import in the module (top level, in functions, under TYPE_CHECKING), relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = package_of(module, path).split(".")
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            ours = app_of(target) in APPS
            found.append(Import(module, nearest_module(target, modules) if ours else app_of(target), node.lineno))
    return found


def read_graph(root: Path = ROOT) -> tuple[dict[str, Path], list[Import]]:
    modules = find_modules(root)
    imports = [found for module, path in modules.items() for found in read_imports(module, path, modules)]
    return modules, imports


def imports_against_the_order(imports: list[Import]) -> list[str]:
    wrong = []
    for found in imports:
        source_app, target_app = app_of(found.source), app_of(found.target)
        if target_app in APPS and APPS.index(target_app) > APPS.index(source_app):
            allowed = ", ".join(APPS[: APPS.index(source_app) + 1])
            wrong.append(f"{found.where} imports {found.target}: {source_app} may import only {allowed}")
    return wrong


def import_edges(modules: Iterable[str], imports: list[Import]) -> dict[str, set[str]]:
    """Each module's imported modules among `modules`, leaving out a module importing itself."""
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for found in imports:
        if found.target in edges and found.target != found.source:
            edges[found.source].add(found.target)
    return edges


def pop_group(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    """Take Tarjan's stack down to and including `root`: the members of root's group."""
    group = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        group.append(member)
        if member == root:
            return group


def module_circles(modules: Iterable[str], imports: list[Import]) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan), each as one circle through the group
    when there is a simple one, else the group's modules; sorted."""
    edges = import_edges(modules, imports)
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so that a long import chain cannot exhaust Python's recursion limit.
        work = [(start, iter(sorted(edges[start])))]
        index[start] = lowest[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowest[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges[successor]))))
                    break
                if successor in on_stack:
                    lowest[node] = min(lowest[node], index[successor])
            else:
                work.pop()
                if work:
                    lowest[work[-1][0]] = min(lowest[work[-1][0]], lowest[node])
                if lowest[node] == index[node]:
                    group = pop_group(stack, on_stack, node)
                    if len(group) > 1:
                        groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(groups)


def shortest_circle(group: list[str], imports: list[Import]) -> list[str]:
    """One shortest circle through the group's first module, for the failure message."""
    members = set(group)
    edges: dict[str, list[str]] = {module: [] for module in group}
    for found in imports:
        if found.source in members and found.target in members and found.target not in edges[found.source]:
            edges[found.source].append(found.target)
    start = group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(edges[node]):
                if successor == start:
                    return paths[node] + [start]
                if successor not in paths:
                    paths[successor] = paths[node] + [successor]
                    following.append(successor)
        frontier = following
    return group


def is_pure_core(module: str) -> bool:
    return any(module == core.rstrip(".") or (core.endswith(".") and module.startswith(core)) for core in PURE_CORES)


def framework_imports_of_pure_cores(modules: dict[str, Path], imports: list[Import]) -> list[str]:
    """A pure core imports no framework, directly or through any module of ours it imports."""
    ours: dict[str, list[Import]] = {module: [] for module in modules}
    for found in imports:
        ours[found.source].append(found)
    wrong = []
    for core in sorted(m for m in modules if is_pure_core(m)):
        seen, pending = {core}, [[core]]
        while pending:
            chain = pending.pop()
            for found in ours[chain[-1]]:
                if found.target in FRAMEWORKS:
                    through = " -> ".join(chain)
                    wrong.append(f"{core} imports {found.target} ({through}, line {found.line})")
                elif found.target in ours and found.target not in seen:
                    seen.add(found.target)
                    pending.append(chain + [found.target])
    return wrong


# --- the checks -----------------------------------------------------------------------------------------------
def test_the_reader_sees_every_app_and_resolves_relative_imports():
    modules, imports = read_graph()
    assert {"donors", "imaging", "classification", "reports"} <= {app_of(m) for m in modules}
    edges = {(found.source, found.target) for found in imports}
    # `from . import selectors, services` in classification/api.py names two modules, not the package.
    assert ("classification.api", "classification.selectors") in edges
    assert ("classification.api", "classification.services") in edges
    assert ("classification.api", "classification") not in edges


def test_no_import_against_the_order():
    _, imports = read_graph()
    wrong = imports_against_the_order(imports)
    assert not wrong, "imports against the order " + " <- ".join(APPS) + ":\n" + "\n".join(wrong)


def test_no_circle_between_modules():
    modules, imports = read_graph()
    circles = module_circles(modules, imports)
    described = [
        f"{' -> '.join(shortest_circle(group, imports))} (tangle of {len(group)}: {', '.join(group)})"
        for group in circles
    ]
    assert not circles, f"{len(circles)} circle(s) between modules:\n" + "\n".join(described)


def test_pure_cores_import_no_django():
    modules, imports = read_graph()
    assert any(is_pure_core(m) for m in modules)
    wrong = framework_imports_of_pure_cores(modules, imports)
    assert not wrong, "pure cores importing a framework:\n" + "\n".join(wrong)


# --- the checks check --------------------------------------------------------------------------------------------
def write_app(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checks_find_what_they_look_for(tmp_path):
    write_app(
        tmp_path,
        {
            "donors/__init__.py": "",
            "donors/models.py": "def late():\n    from reports import content\n",
            "reports/__init__.py": "",
            "reports/content.py": "from ..donors import models\nfrom . import statistics\n",
            "reports/statistics.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .helpers import x\n"
            ),
            "reports/helpers.py": "import django.db\n",
        },
    )
    modules = find_modules(tmp_path)
    imports = [found for module, path in modules.items() for found in read_imports(module, path, modules)]
    assert imports_against_the_order(imports) == [
        "donors.models (line 2) imports reports.content: donors may import only core, donors"
    ]
    assert module_circles(modules, imports) == [["donors.models", "reports.content"]]
    assert framework_imports_of_pure_cores(modules, imports) == [
        "reports.statistics imports django (reports.statistics -> reports.helpers, line 1)"
    ]
