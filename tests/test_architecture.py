"""The house rules of docs/architecture.md, checked on the source.

Every project module (each .py file outside .venv, tests/ and migrations/) is
parsed with `ast`; imports are read at any depth (inside functions and
`if TYPE_CHECKING:` too), relative imports are resolved, and each import is
mapped to the longest project module that exists. On that graph:

- no import cycle;
- the layers point down only: shop.core <- accounts <- catalog, payments,
  shop.shipping <- shop.pricing <- shop.cart <- shop.orders <- shop.staff, with
  catalog, payments and shop.shipping blind to each other;
- no file over 600 lines, no function over 80 lines;
- settings are read as `settings.X`, never `getattr(settings, ...)`;
- every registered error code is listed in docs/interfaces.md, and every
  environment variable shop/settings.py reads is in the README's
  configuration table.
"""

import ast
import re
from functools import cache
from importlib import import_module
from pathlib import Path

from django.conf import settings

from shop.core.exceptions import error_code_values

BASE_DIR = Path(settings.BASE_DIR)
SKIPPED_DIRS = {".venv", "venv", "tests", "migrations", "node_modules", "staticfiles", "media", ".git"}
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

# The apps above the shared base, and the project glue at the top.
APPS = [
    "accounts",
    "catalog",
    "payments",
    "shop.shipping",
    "shop.pricing",
    "shop.cart",
    "shop.orders",
    "shop.staff",
]
PROJECT_GLUE = ["shop.urls", "shop.views", "shop.settings"]


# --- the source, parsed once -----------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BASE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_files() -> dict[str, Path]:
    """Dotted module name -> file, for every project .py file outside .venv, tests/ and migrations/."""
    files = {}
    for path in sorted(BASE_DIR.rglob("*.py")):
        if SKIPPED_DIRS & set(path.relative_to(BASE_DIR).parts[:-1]):
            continue
        files[_module_name(path)] = path
    return files


@cache
def parsed(module: str) -> ast.Module:
    path = project_files()[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _rel(module: str) -> str:
    return str(project_files()[module].relative_to(BASE_DIR))


def _is_package(module: str) -> bool:
    return project_files()[module].name == "__init__.py"


def _resolve_project_module(dotted: str) -> str | None:
    """The longest project module that `dotted` names or lies inside; None for third-party code."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in project_files():
            return candidate
    return None


def _absolute_base(module: str, node: ast.ImportFrom) -> str:
    """The absolute dotted name a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imported_names(module: str, node: ast.AST) -> list[str]:
    """Absolute dotted names one import statement asks for (`from a import b` asks for a.b, else a)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _absolute_base(module, node)
    return [f"{base}.{alias.name}" if base else alias.name for alias in node.names]


@cache
def import_graph() -> dict[str, dict[str, list[int]]]:
    """module -> {imported project module: [line numbers]}, every import at any depth."""
    graph: dict[str, dict[str, list[int]]] = {}
    for module in project_files():
        edges: dict[str, list[int]] = {}
        for node in ast.walk(parsed(module)):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported_names(module, node):
                target = _resolve_project_module(name)
                if target and target != module and node.lineno not in edges.get(target, []):
                    edges.setdefault(target, []).append(node.lineno)
        graph[module] = edges
    return graph


def _inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _imports_from(sources: list[str], forbidden: list[str]) -> list[str]:
    """'file:line imports module' for every import from `sources` into `forbidden`."""
    found = []
    for module, edges in sorted(import_graph().items()):
        if not any(_inside(module, source) for source in sources):
            continue
        for target, lines in sorted(edges.items()):
            if any(_inside(target, bad) for bad in forbidden):
                found += [f"{_rel(module)}:{line} imports {target}" for line in lines]
    return found


# --- import graph ----------------------------------------------------------------------------


def _find_cycles(graph: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _describe_cycle(component: list[str]) -> str:
    graph = import_graph()
    members = set(component)
    arrows = [
        f"  {_rel(module)}:{lines[0]} -> {target}"
        for module in component
        for target, lines in sorted(graph[module].items())
        if target in members
    ]
    return "cycle between " + ", ".join(component) + ":\n" + "\n".join(arrows)


def test_project_modules_are_found():
    modules = project_files()
    assert "shop.settings" in modules and "shop.core.exceptions" in modules
    assert not any(_inside(module, "tests") for module in modules)


def test_import_graph_has_no_cycle():
    cycles = _find_cycles(import_graph())
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(
        _describe_cycle(component) for component in cycles
    )


def test_core_imports_no_app():
    found = _imports_from(["shop.core"], APPS + PROJECT_GLUE)
    assert not found, "shop.core is the base and imports no app:\n" + "\n".join(found)


def test_accounts_imports_only_core():
    found = [
        f"{_rel(module)}:{line} imports {target}"
        for module, edges in sorted(import_graph().items())
        if _inside(module, "accounts")
        for target, lines in sorted(edges.items())
        if not _inside(target, "accounts") and not _inside(target, "shop.core")
        for line in lines
    ]
    assert not found, "accounts imports nothing of the project but shop.core:\n" + "\n".join(found)


def test_catalog_and_payments_know_nothing_of_each_other():
    found = _imports_from(["catalog"], ["payments"]) + _imports_from(["payments"], ["catalog"])
    assert not found, "catalog and payments never import each other:\n" + "\n".join(found)


def test_lower_apps_import_nothing_from_pricing_cart_orders_staff():
    found = _imports_from(
        ["accounts", "catalog", "payments", "shop.shipping"],
        ["shop.pricing", "shop.cart", "shop.orders", "shop.staff"],
    )
    assert not found, (
        "accounts, catalog, payments and shipping import nothing from pricing, cart, orders or staff:\n"
        + "\n".join(found)
    )


def test_shipping_knows_nothing_of_catalog_and_payments():
    found = _imports_from(["shop.shipping"], ["catalog", "payments"]) + _imports_from(
        ["accounts", "catalog", "payments"], ["shop.shipping"]
    )
    assert not found, (
        "shipping sits beside catalog and payments: none of them imports another, nor accounts shipping:\n"
        + "\n".join(found)
    )


def test_pricing_imports_nothing_above_it():
    found = _imports_from(["shop.pricing"], ["shop.cart", "shop.orders", "shop.staff"])
    assert not found, "pricing sits below cart and imports nothing from cart, orders or staff:\n" + "\n".join(found)


def test_cart_and_orders_import_nothing_above_them():
    found = _imports_from(["shop.cart"], ["shop.orders", "shop.staff"]) + _imports_from(
        ["shop.orders"], ["shop.staff"]
    )
    assert not found, "cart imports nothing from orders or staff, orders nothing from staff:\n" + "\n".join(
        found
    )


# --- sizes ------------------------------------------------------------------------------------


def test_no_file_over_600_lines():
    found = []
    for module, path in project_files().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_FILE_LINES:
            found.append(f"{_rel(module)}: {lines} lines")
    assert not found, f"files over {MAX_FILE_LINES} lines (split them by responsibility):\n" + "\n".join(
        sorted(found)
    )


def test_no_function_over_80_lines():
    found = []
    for module in project_files():
        for node in ast.walk(parsed(module)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{_rel(module)}:{node.lineno} {node.name}: {lines} lines")
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines (name their steps):\n" + "\n".join(
        sorted(found)
    )


# --- settings ---------------------------------------------------------------------------------


def _is_settings(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def test_settings_are_read_as_attributes():
    found = [
        f"{_rel(module)}:{node.lineno}"
        for module in project_files()
        if module != "shop.settings"
        for node in ast.walk(parsed(module))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and node.args
        and _is_settings(node.args[0])
    ]
    assert not found, (
        "getattr(settings, ...) outside shop/settings.py: define the setting there and read settings.X:\n"
        + "\n".join(sorted(found))
    )


def _environment_variables_read() -> dict[str, int]:
    """Name -> line of every environment variable shop/settings.py reads."""
    names = {}
    for node in ast.walk(parsed("shop.settings")):
        key = None
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "os.getenv", "env_bool", "env_list"}:
                key = node.args[0].value
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                key = node.slice.value
        if isinstance(key, str):
            names.setdefault(key, node.lineno)
    return names


def _markdown_section(text: str, heading: str) -> str:
    """The text under the first `## heading...` line, up to the next heading of that level or above."""
    match = re.search(rf"^(#+) {re.escape(heading)}.*$", text, flags=re.MULTILINE)
    assert match, f"no section {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def _readme_configuration_variables() -> set[str]:
    """Every `NAME` in the first column of the README's configuration table."""
    section = _markdown_section((BASE_DIR / "README.md").read_text(encoding="utf-8"), "Configuration")
    names = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_every_environment_variable_is_in_the_readme():
    documented = _readme_configuration_variables()
    missing = [
        f"{name} (shop/settings.py:{line})"
        for name, line in sorted(_environment_variables_read().items())
        if name not in documented
    ]
    assert not missing, "environment variables missing from the README's Configuration table:\n" + "\n".join(
        missing
    )


# --- error codes ------------------------------------------------------------------------------


def _load_error_code_enums() -> None:
    """Import what registers error-code enums: the URLconf (every app's views) and every exceptions module."""
    import_module(settings.ROOT_URLCONF)
    for module in project_files():
        if module.rsplit(".", 1)[-1] == "exceptions":
            import_module(module)


def test_every_error_code_is_listed_in_interfaces():
    _load_error_code_enums()
    listed = set(
        re.findall(
            r"`([a-z][a-z0-9_]*)`",
            _markdown_section(
                (BASE_DIR / "docs" / "interfaces.md").read_text(encoding="utf-8"), "Error codes"
            ),
        )
    )
    missing = [code for code in error_code_values() if code not in listed]
    assert not missing, "error codes missing from docs/interfaces.md, section 'Error codes':\n" + "\n".join(
        missing
    )
