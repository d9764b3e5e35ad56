"""The shape of the code: arrows run one way, the core runs without Streamlit, one error family,
settings read in one place, and a README layout that matches the tree."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import wbcreview
from wbcreview.errors import WbcreviewError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wbcreview"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
CORE = sorted(m for m in MODULES if not m.startswith("wbcreview.ui") and m != "wbcreview.__main__")


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level imports, function-local imports) of wbcreview modules in `path`."""
    tree = ast.parse(path.read_text(), str(path))
    top: set[str] = set()
    local: set[str] = set()
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]

    def targets(node) -> set[str]:
        found = set()
        if isinstance(node, ast.Import):
            found = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        return {t for t in found if t.startswith("wbcreview") and t in MODULES}

    def walk(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                (local if in_function else top).update(targets(child))
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            walk(child, nested)

    walk(tree, False)
    return top - {me}, local - {me}


GRAPH = {m: imports(p) for m, p in MODULES.items()}


def cycle_through(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path start -> ... -> start in `edges`, or None."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycle_between_modules():
    edges = {m: top for m, (top, _) in GRAPH.items()}
    cycles = [c for m in edges if (c := cycle_through(m, edges))]
    assert not cycles, "import cycle: " + " -> ".join(cycles[0])


def reaches(start: str, goal: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path start -> ... -> goal in `edges`, or None."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for nxt in sorted(edges.get(node, ())):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_function_local_import_dodges_a_cycle():
    # A lazy import of a heavy module is fine; one that would close a cycle is not.
    edges = {m: top | local for m, (top, local) in GRAPH.items()}
    dodges = []
    for m, (_top, local) in GRAPH.items():
        for target in sorted(local):
            back = reaches(target, m, edges)
            if back:
                dodges.append(f"{m} imports {target} in a function: " + " -> ".join([m, *back]))
    assert not dodges, "\n".join(dodges)


def test_core_modules_never_import_streamlit_in_a_fresh_interpreter():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", "a core module imported streamlit"


def test_only_ui_and_pages_import_streamlit():
    offenders = []
    for path in [*PACKAGE.rglob("*.py")]:
        if "ui" in path.relative_to(PACKAGE).parts[:1]:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "streamlit" for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_only_config_reads_the_environment():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"environ", "getenv"}
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "read settings through wbcreview.config: " + ", ".join(offenders)


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m != "wbcreview.__main__"))
def test_every_error_class_is_a_wbcreview_error(name):
    if name.startswith("wbcreview.ui"):
        pytest.importorskip("streamlit")
    module = importlib.import_module(name)
    for attr, value in vars(module).items():
        if (
            inspect.isclass(value)
            and issubclass(value, Exception)
            and value.__module__ == name
            and not attr.startswith("_")
        ):
            assert issubclass(value, WbcreviewError), f"{name}.{attr} is not a WbcreviewError"


def readme_layout() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]


def test_readme_layout_lists_every_package_and_top_module():
    section = readme_layout()
    packages = {m.name for m in pkgutil.iter_modules(wbcreview.__path__)}
    missing = sorted(p for p in packages if p != "__main__" and f"{p}" not in section)
    assert not missing, f"README layout does not mention: {missing}"


def readme_entries() -> dict[str, str]:
    """The layout block's entries for wbcreview's packages: "name" -> its text (the
    "  name/" line and the continuation lines indented under it)."""
    entries: dict[str, str] = {}
    current = None
    for line in readme_layout().splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") and line[2] != " " else ""
        if head.endswith("/"):
            current = head[:-1]
            entries[current] = line
        elif current and line.startswith(" " * 20):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def test_readme_layout_names_every_module_in_its_package_entry():
    entries = readme_entries()
    missing = [
        f"{package.name}/{module.name}"
        for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
        for module in sorted(package.glob("*.py"))
        if module.stem != "__init__" and module.stem not in entries.get(package.name, "")
    ]
    assert not missing, f"README layout does not name: {missing}"


def test_the_core_never_imports_upwards():
    upper = ("wbcreview.workspace", "wbcreview.ui", "wbcreview.cli")
    core = ("wbcreview.data", "wbcreview.review", "wbcreview.curation", "wbcreview.triage")
    core += ("wbcreview.demo", "wbcreview.views", "wbcreview.config", "wbcreview.errors")
    wrong = [
        f"{m} imports {t}"
        for m, (top, local) in GRAPH.items()
        if m.startswith(core)
        for t in top | local
        if t.startswith(upper)
    ]
    assert not wrong, "\n".join(wrong)


def test_settings_inside_a_test_are_the_defaults():
    from wbcreview import config

    for s in config.SETTINGS:
        if s.name != "WBCREVIEW_HOME":
            assert config.get(s.name) == s.default, s.name


def test_a_setting_from_the_shell_never_reaches_a_test():
    env = {**os.environ, "WBCREVIEW_QUORUM": "0.99", "WBCREVIEW_DB": "sqlite:////nowhere/x.db"}
    node = "tests/test_layout.py::test_settings_inside_a_test_are_the_defaults"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:]


def test_page_files_are_written_only_in_the_navigation_table():
    pytest.importorskip("streamlit")
    from wbcreview.ui import navigation

    written = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        if path.name != "navigation.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("pages/")
    ]
    assert not written, "use navigation.page_file(url_path): " + ", ".join(written)
    for _section, pages in navigation.PAGES:
        for path, _title, url in pages:
            assert navigation.page_file(url) == path and (ROOT / path).is_file()
    with pytest.raises(KeyError):
        navigation.page_file("No_such_page")


# The edges: screens (ui/, pages/, app.py) and the CLI, which call the Workspace only.
SCREENS = sorted(
    [*(PACKAGE / "ui").rglob("*.py"), *(PACKAGE / "cli").rglob("*.py")]
    + [*(ROOT / "pages").glob("*.py"), ROOT / "app.py"]
)
PAST_THE_WORKSPACE = {"wbcreview.review.store", "wbcreview.data.catalog"}


def past_the_workspace(source: str, name: str) -> list[str]:
    """Where a screen imports the store or the catalog module, or reads them off a Workspace."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        if PAST_THE_WORKSPACE & set(names):
            found.append(f"{name}:{node.lineno} imports the store or the catalog module")
        if isinstance(node, ast.Attribute) and node.attr in {"store", "catalog", "store_or_none"}:
            found.append(f"{name}:{node.lineno} reads .{node.attr}")
    return found


def test_screens_reach_the_store_and_catalog_only_through_the_workspace():
    offenders = [
        line
        for path in SCREENS
        for line in past_the_workspace(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not offenders, "call a Workspace method instead:\n" + "\n".join(offenders)


def test_the_screen_check_catches_each_way_past_the_workspace():
    screen = (
        "from wbcreview.review.store import Store\n"
        "from wbcreview.data import catalog\n"
        "import wbcreview.review.store\n"
        "def body(ws):\n"
        "    return ws.store.list_queues(), ws.catalog.cursor(), ws.store_or_none\n"
    )
    found = past_the_workspace(screen, "screen.py")
    assert len(found) == 6, found
    assert past_the_workspace("def body(ws):\n    return ws.queues()\n", "ok.py") == []
