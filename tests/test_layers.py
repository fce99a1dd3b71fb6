"""The layer rules of docs/architecture.md, checked on the source itself."""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "certdesk"

# Which certdesk packages each layer may import.
ALLOWED = {
    "pki": {"errors", "pki"},
    "store": {"errors", "pki", "store"},
    "tls": {"errors", "pki", "tls"},
    "services": {"errors", "pki", "store", "tls", "services"},
    "web": {"errors", "pki", "services", "tls", "web"},
    "cli": {"errors", "pki", "store", "services", "web", "cli"},
}
# The pure core does no I/O: no files, sockets, databases or environment.
PKI_FORBIDDEN_MODULES = {
    "os",
    "socket",
    "pathlib",
    "sqlite3",
    "sqlalchemy",
    "io",
    "time",
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_downward(layer: str) -> None:
    for path in (SOURCE / layer).rglob("*.py"):
        for module in _imports(path):
            if module.startswith("certdesk."):
                target = module.split(".")[1]
                assert target in ALLOWED[layer], f"{path.name} imports {module}"


def test_pki_does_no_io_and_reads_no_clock() -> None:
    for path in (SOURCE / "pki").rglob("*.py"):
        for module in _imports(path):
            assert module.split(".")[0] not in PKI_FORBIDDEN_MODULES, (
                f"{path.name} imports {module}"
            )
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {
                "now",
                "utcnow",
                "today",
            }:
                raise AssertionError(f"{path.name} reads the clock")
            if isinstance(node, ast.Name) and node.id == "open":
                raise AssertionError(f"{path.name} opens a file")
