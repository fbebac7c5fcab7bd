"""The simulator is a package of its own: it imports nothing from the product (no Django either),
only the standard library, aiohttp, orjson and (when installed) uvloop."""

import ast
import subprocess
import sys
from pathlib import Path

import simulator

PACKAGE = Path(simulator.__file__).parent
THIRD_PARTY = {"aiohttp", "orjson", "uvloop"}
PRODUCT = {"aipower", "accounts", "routing", "billing", "analytics", "website", "bench", "tests", "django"}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a module: level 0 is absolute, 1 is `from .x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_it_imports_only_the_standard_library_its_server_libraries_and_itself():
    modules = sorted(PACKAGE.glob("*.py"))
    assert {"server.py", "__main__.py", "controls.py"} <= {m.name for m in modules}
    absolute, relative = set(), set()
    for module in modules:
        for level, name in imports_of(module):
            # The package is flat: a relative import deeper than `.` would leave it.
            assert level <= 1, f"{module.name} imports {'.' * level}{name}, outside the simulator"
            (relative if level else absolute).add(name.split(".")[0])
    assert "server" in relative and "aiohttp" in absolute  # the walk saw real imports
    outside = {name for name in absolute if name not in sys.stdlib_module_names and name not in THIRD_PARTY}
    assert outside == set(), f"the simulator imports {sorted(outside)}"
    assert absolute.isdisjoint(PRODUCT)


def test_it_loads_no_product_module_when_started():
    probe = (
        "import sys, simulator.__main__, simulator.server\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "simulator" in out and "aiohttp" in out
    assert set(out).isdisjoint(PRODUCT), sorted(set(out) & PRODUCT)
