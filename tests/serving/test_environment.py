"""serving.environment: the start-up check that the running environment matches the model's requirements."""

from __future__ import annotations

import platform
from importlib import metadata

from serving.environment import mismatches


def model_dir(tmp_path, requirements: str, python: str | None = None):
    (tmp_path / "requirements.txt").write_text(requirements)
    if python:
        (tmp_path / "MLmodel").write_text(f"flavors:\n  python_function:\n    python_version: {python}\n")
    return str(tmp_path)


def test_an_environment_that_matches_reports_nothing(tmp_path):
    numpy = metadata.version("numpy")
    path = model_dir(tmp_path, f"numpy=={numpy}\n# a comment\n-r other.txt\nhttps://x.test/pkg.whl\n\n",
                     platform.python_version())
    assert mismatches(path) == []


def test_each_mismatch_names_the_package_and_both_versions(tmp_path):
    numpy = metadata.version("numpy")
    path = model_dir(tmp_path, "numpy==0.0.1\nnot-installed-anywhere==1.0\npandas>=0\n", "2.7.18")
    assert mismatches(path) == [
        f"numpy (installed: {numpy}, model: numpy==0.0.1)",
        "not-installed-anywhere (installed: none, model: not-installed-anywhere==1.0)",
        f"python (running: {platform.python_version()}, model: 2.7.18)",
    ]


def test_requirements_for_another_platform_are_skipped(tmp_path):
    assert mismatches(model_dir(tmp_path, 'numpy==0.0.1; sys_platform == "win32"\n')) == []


def test_a_model_without_requirements_has_nothing_to_compare(tmp_path):
    assert mismatches(str(tmp_path)) == []
