"""The import rules of the architecture (pyproject.toml's import-linter contracts) and no import cycle at all,
counting imports inside functions: a deferred import hides a cycle, it does not remove it."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_PACKAGES = ("wizard", "tenants", "config")


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:]


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def _product_imports() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PRODUCT_PACKAGES, exclude_type_checking_imports=True)
    modules = {module for module in graph.modules if ".migrations" not in module}
    return {
        module: {imported for imported in graph.find_modules_directly_imported_by(module) if imported in modules}
        for module in modules
    }


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_the_products_modules():
    assert _cycles(_product_imports()) == []


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else (node.module or "").partition(".")[0])
    return roots


def test_import_finder_sees_a_third_party_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom django.db import models\nfrom . import x\n")
    assert _imported_roots(module) - set(sys.stdlib_module_names) == {"django", "."}


def test_step_results_import_only_the_standard_library():
    assert _imported_roots(ROOT / "wizard" / "results.py") - set(sys.stdlib_module_names) == set()


def _product_modules() -> list[Path]:
    return [path for package in PRODUCT_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_the_product_knows_no_sandbox():
    """The sandbox points Onramp at itself from outside (`python -m sandbox onramp-connect`): no product module
    imports it, even dynamically, or reads its info file."""
    modules = _product_modules()
    assert len(modules) > 20
    importing = [path for path in modules if "sandbox" in _imported_roots(path)]
    dynamic = [path for path in modules if re.search(r"import_module\(\s*['\"]sandbox", path.read_text())]
    info_file = [path for path in modules if re.search(r"sandbox[_-]info", path.read_text())]
    assert importing == dynamic == info_file == []
