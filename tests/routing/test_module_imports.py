"""The ASGI layer (routing/http.py) calls the handlers; the handlers never import it back: they
share the request and response types of routing/api_types.py."""

import ast
from pathlib import Path

ROUTING = Path(__file__).resolve().parents[2] / "routing"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, as written (".http", "routing.http", "..http")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(base + alias.name if base.endswith(".") else f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_handler_imports_the_asgi_layer():
    offenders = []
    for path in sorted(ROUTING.rglob("*.py")):
        if path == ROUTING / "http.py":
            continue
        relative = ".http" if path.parent == ROUTING else "..http"
        if imported_modules(path) & {"routing.http", relative}:
            offenders.append(str(path.relative_to(ROUTING.parent)))
    assert offenders == []


def test_the_check_sees_an_import_of_the_asgi_layer(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from .http import ApiResponse\nfrom . import http\n")
    assert ".http" in imported_modules(module)
