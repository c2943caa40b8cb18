"""`tagifai report`: the model card, written from the run's metadata alone."""

from __future__ import annotations

import re

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.report import N_MISTAKES, write_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory):
    path = write_report(trained_run.model_uri, tmp_path_factory.mktemp("docs") / "model.md")
    return path, path.read_text()


def test_every_section_is_there(report):
    _, text = report
    for heading in ("## Summary", "## Data", "## Training arguments", "## Performance", "### Per class",
                    "### Slices", "## Cross-validation", "## Calibration", "## Behavioural tests",
                    "most confident mistakes"):
        assert heading in text, heading


def test_figures_are_written_beside_it_and_linked(report):
    path, text = report
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert {"model_confusion_matrix.png", "model_class_metrics.png", "model_cv_folds.png", "model_labels.png",
            "model_reliability.png", "model_reference_profile.png"} <= set(links)
    for link in links:
        assert (path.parent / link).stat().st_size > 1000, link


def test_numbers_are_the_runs(report, trained_run):
    _, text = report
    metrics = mlflow.get_run(trained_run.run_id).data.metrics
    assert f"{metrics['cv_f1_mean']:.4f} ± {metrics['cv_f1_std']:.4f}" in text
    assert f"{metrics['f1']:.4f}" in text
    assert f"`{trained_run.run_id}`" in text
    params = mlflow.get_run(trained_run.run_id).data.params
    for key, value in params.items():
        assert f"| {key} | `{value}` |" in text
    # The shipped args refit on train + validation: the validation figure is of the model before that.
    assert params["refit_on_val"] == "True" and "scored before the refit on train + validation" in text
    assert "the model is fitted on train + val" in text


def test_calibration_figures_are_the_runs(report, trained_run):
    section = report[1].split("## Calibration")[1].split("\n## ")[0]
    metrics = mlflow.get_run(trained_run.run_id).data.metrics
    assert f"T = {metrics['temperature']:.3f}" in section
    for name in ("cv_ece", "test_ece", "test_accuracy", "test_confidence_mean"):
        assert f"| {metrics[name]:.4f} |" in section, name


def test_the_ten_most_confident_mistakes_of_the_test_split(report, trained_run):
    _, text = report
    section = text.split("most confident mistakes (test split)")[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| id ")]
    predictions = pd.DataFrame({"label": trained_run.result.splits.test["label"], "pred": trained_run.result.test_pred})
    wrong = int((predictions["label"] != predictions["pred"]).sum())
    assert len(rows) == min(N_MISTAKES, wrong)
    confidences = [float(r.rstrip(" |").rsplit("|", 1)[1]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)


def test_report_command_for_a_registered_version(tracking_uri, trained_run, tmp_path):
    from registry.transitions import promote

    name = "tests-report-model"
    promote("tests-train", name, run_id=trained_run.run_id, force=True)
    out = tmp_path / "card.md"
    result = CliRunner().invoke(app, ["report", "--model-uri", f"models:/{name}@champion", "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert f"# Model report: {name} version 1" in text and "aliases: champion" in text
    assert (tmp_path / "card_confusion_matrix.png").exists()


def test_an_unknown_model_fails_clearly(tracking_uri, tmp_path):
    result = CliRunner().invoke(app, ["report", "--model-uri", "models:/no-such-model@champion",
                                      "--output", str(tmp_path / "x.md")])
    assert result.exit_code == 1
    assert "cannot resolve model URI" in result.stderr
