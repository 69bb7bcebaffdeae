"""The package's floors (docs/architecture.md): nothing imports a floor above it, and no modules import each
other in a circle, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "pipeline"

# Lowest first. A module may import its own floor's packages and every floor below it.
FLOORS = [
    {"common", "track"},
    {"models", "synth", "ingest"},
    {"identify", "pose"},
    {"evaluate"},
    {"train", "serve"},
    {"config"},
    {"workflow"},
    {"cli"},
]
FLOOR = {pkg: i for i, floor in enumerate(FLOORS) for pkg in floor}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "pipeline" and len(parts) > 1 and parts[1] != "__version__" else None


def _imports() -> dict[str, set[str]]:
    """module → the project modules it imports, anywhere in the file."""
    out: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        found = out.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("pipeline."))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    found.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() else node.module)
    return out


def test_no_module_imports_a_floor_above_its_own():
    wrong = []
    for module, imported in _imports().items():
        here = _package(module)
        for other in imported:
            there = _package(other)
            if here and there and FLOOR[there] > FLOOR[here]:
                wrong.append(f"{module} → {other}")
    assert not wrong, "imports that run back up a floor:\n" + "\n".join(sorted(wrong))


def test_every_package_has_a_floor():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in ROOT.glob("*.py") if p.stem not in ("__init__", "__version__")}
    assert packages <= set(FLOOR), f"give these a floor in FLOORS and docs/architecture.md: {packages - set(FLOOR)}"


def test_no_circles():
    imports = _imports()
    graph = {m: {i for i in deps if i in imports and i not in (m, "pipeline")} for m, deps in imports.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, ()):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            raise AssertionError("modules that import each other in a circle: " + " → ".join(cycle))


# Imported inside functions on purpose: they load TensorFlow (the models), start or join Ray, or build Ray Serve's
# application; `gait --help`, the CLI's argument errors and Ray Data's workers should not pay for them.
LAZY = ("pipeline.models", "pipeline.common.ray_init", "pipeline.serve.app", "pipeline.serve.deployments")


def test_project_imports_are_at_the_top_of_files():
    inner = []
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if id(node) not in top and module.startswith("pipeline") and not module.startswith(LAZY):
                inner.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert not inner, "move these to the top of their files (or say in LAZY why they are heavy):\n" + "\n".join(inner)
