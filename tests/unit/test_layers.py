"""Dependencies run one way (DESIGN.md §1.7): every import arrow in service/ points down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A layer may import the layers listed for it (and itself); plugins/ is beneath them all.
ALLOWED = {
    "vocabulary": {"vocabulary"},
    "adapters": {"adapters", "vocabulary", "settings"},
    "domain": {"domain", "adapters", "vocabulary", "settings"},
}


def service_imports(path: Path) -> set[str]:
    """The service/ packages a module imports (the first name after `service.`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("service.") and n.count(".") >= 1}
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_beneath_it(layer):
    wrong = {}
    for path in sorted((ROOT / "service" / layer).rglob("*.py")):
        outside = service_imports(path) - ALLOWED[layer]
        if outside:
            wrong[str(path.relative_to(ROOT))] = sorted(outside)
    assert wrong == {}, f"imports that point up or sideways from service/{layer}/"
