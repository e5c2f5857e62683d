"""The house's rules, checked: one home per concept shows in what imports what."""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skralif"


def imports(path):
    """``(module, names)`` of every ``from ... import`` in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def _is_module(package, name):
    folder = ROOT.joinpath(*package.split("."))
    return (folder / f"{name}.py").exists() or (folder / name).is_dir()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_underscored_names(path):
    """Issue 21: labeling imported datasets._number, the learner strategies' helpers."""
    crossing = [f"{module}.{name}" for module, names in imports(path)
                if module.startswith("skralif") for name in names
                if name.startswith("_") and not name.startswith("__")
                and not _is_module(module, name)]  # a package naming its own modules
    assert not crossing, f"{path.name} imports private names {crossing}"


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("*.py")),
                         ids=lambda p: p.name)
def test_benchmarks_use_the_public_api_only(path):
    """Issue 21: benchmarks reached into _nets, _pool, influence._scores and the tests."""
    private = [module for module, _ in imports(path)
               if (module.startswith("skralif") and any(part.startswith("_")
                                                        for part in module.split(".")))
               or module.split(".")[0] == "tests"]
    # the tests' launcher of a real Label Studio server, to shoot or time it
    private = [m for m in private if m != "tests.labelstudio_server"]
    assert not private, f"{path.name} imports {private}"


def test_minimum_versions_are_the_declared_floors():
    """CI installs .ci/minimum-versions.txt: it must pin exactly pyproject's floors."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for requirement in declared:
        name, floor = re.match(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement).groups()
        floors[name.lower()] = floor
    pinned = dict(line.split("==") for line in
                  (ROOT / ".ci" / "minimum-versions.txt").read_text().splitlines()
                  if line and not line.startswith("#"))
    floors.pop("torch")  # CPU wheels of older releases are not reachable offline
    assert {k.lower(): v for k, v in pinned.items()} == {
        k: v if v.count(".") == 2 else v + ".0" for k, v in floors.items()}
