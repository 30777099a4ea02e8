"""The application front (backend/service.py) sits above the packages it composes: none of them imports it, at module
level or inside a function, absolutely or relatively."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

FRONT = "backend.service"
# the packages the front composes, and those below them
BELOW_THE_FRONT = ("search", "explore", "recommend", "grow", "data", "encoders", "model", "world")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module an import statement anywhere in `source` names (relative imports resolved against `module`),
    plus `pkg.name` for each `from pkg import name` (name may be a module)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _imports_front(names: set[str]) -> bool:
    return any(n == FRONT or n.startswith(FRONT + ".") for n in names)


def test_the_check_sees_every_form_of_import():
    assert _imports_front(imported_modules("from backend.service import SearchService", "backend.search.engine"))
    assert _imports_front(imported_modules("import backend.service as s", "backend.grow.view"))
    assert _imports_front(imported_modules("def f():\n    from backend import service\n", "backend.explore.maps"))
    assert _imports_front(imported_modules("from ..service import SearchService", "backend.recommend.seeds"))
    assert _imports_front(imported_modules("from .. import service", "backend.grow.view"))
    assert not _imports_front(imported_modules("from backend.grow.service import GrowService", "backend.grow.view"))
    assert not _imports_front(imported_modules("from .service import ExploreService", "backend.explore.maps"))


def test_the_front_lives_above_search():
    assert (REPO / "backend" / "service.py").is_file()
    assert not (REPO / "backend" / "search" / "service.py").exists(), "no copy or shim left in backend/search"


@pytest.mark.parametrize("package", BELOW_THE_FRONT)
def test_no_package_below_the_front_imports_it(package):
    files = sorted((REPO / "backend" / package).rglob("*.py"))
    assert files, package
    offenders = [str(f.relative_to(REPO)) for f in files
                 if _imports_front(imported_modules(f.read_text(), _module_name(f), f.name == "__init__.py"))]
    assert offenders == [], f"{', '.join(offenders)}: imports {FRONT}; pass the objects it needs instead"
