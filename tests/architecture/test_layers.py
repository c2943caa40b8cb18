"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they would catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("tagifai", "mlflow_model", "tracking", "registry", "serving", "batch", "monitoring", "app", "scripts",
            "benchmarks", "harness")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The packages and pyproject.toml, copied: lint-imports reads the copy (the cwd comes first on its path)."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("tagifai/evaluate.py", "import registry.versions"),  # the ML core reaching the registry
    ("mlflow_model/packaging.py", "from tracking import runs"),  # the pyfunc packaging reaching run logging
    ("serving/settings.py", "import app.cli"),  # a service reaching the CLI
    ("registry/listing.py", "import batch.store"),  # one service reaching a sibling
    ("batch/store.py", "import serving.app"),  # the prediction store reaching the server above it
])
def test_an_upward_import_breaks_a_contract(tree_copy: Path, module: str, upward: str):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{upward}  # deliberate: the contract must refuse it\n")
    result = lint(tree_copy)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "BROKEN" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout, result.stdout[-3000:]
