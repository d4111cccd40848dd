"""The package's layers: a module imports only from its own layer or a lower one, no module takes
part in an import cycle, and the lowest layers stay free of what belongs higher up (the graph knows
no nn, text or plots; the models no text, plots or Gradio)."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "necklab"
# Lowest first; the package root (`necklab`, which only names ASSETS) sits below them all.
LAYERS = ["graph", "models", "i18n", "lab", "train", "viz", "widgets", "lessons", "pack", "api", "ui", "cli"]
FORBIDDEN = {  # third-party imports a layer must not make
    "graph": ("torch.nn", "matplotlib", "gradio"),
    "models": ("matplotlib", "gradio", "networkx"),
    "i18n": ("torch", "matplotlib", "gradio"),
    "lab": ("matplotlib", "gradio"),
    "train": ("matplotlib", "gradio"),
    "viz": ("gradio",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, wherever the import statement sits (functions and
    TYPE_CHECKING blocks included): an import anywhere is a dependency."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; name the layer"
            base = node.module or ""
            for alias in node.names:  # `from necklab.graph import trace` imports the module necklab.graph.trace
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return -1 if len(parts) == 1 else LAYERS.index(parts[1])


def test_every_module_belongs_to_a_layer():
    for module in MODULES:
        assert module == "necklab" or module.split(".")[1] in LAYERS, f"{module} is in no layer"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module):
    upward = [f"{module} ({LAYERS[layer(module)] if layer(module) >= 0 else 'root'}) imports {target} "
              f"({LAYERS[layer(target)]})"
              for target in imports(MODULES[module]) if target in MODULES and layer(target) > layer(module)]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_low_layers_stay_low(name):
    wrong = [f"{module} imports {target}" for module, path in MODULES.items()
             if layer(module) == LAYERS.index(name)
             for target in imports(path) for banned in FORBIDDEN[name]
             if target == banned or target.startswith(banned + ".")]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = nx.DiGraph((module, target) for module, path in MODULES.items()
                       for target in imports(path) if target in MODULES)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, cycles


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path):
    """The checks above can fail: a model importing the UI is upward, and two modules importing
    each other form a cycle."""
    (tmp_path / "m.py").write_text("from necklab.ui.app import build_app\nfrom necklab.graph import trace\n")
    found = imports(tmp_path / "m.py")
    assert "necklab.ui.app" in found and "necklab.graph.trace" in found
    assert layer("necklab.ui.app") > layer("necklab.models.registry")
    loop = nx.DiGraph([("a", "b"), ("b", "a")])
    assert [c for c in nx.strongly_connected_components(loop) if len(c) > 1]
