"""What a training run logs about calibration and its reference: temperature, cv_ece and test_ece as metrics, the
reference profile (JSON, as tagifai monitor downloads it) and its picture, on the session's real trained run."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from tagifai.calibration import MAX_CV_ECE
from tagifai.crossval import PROFILE_SOURCE
from tagifai.profile import PROFILE_ARTIFACT, PROFILE_FORMAT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metrics(trained_run) -> dict[str, float]:
    return mlflow.get_run(trained_run.run_id).data.metrics


def test_the_run_logs_its_temperature_and_calibration_errors(trained_run, metrics):
    assert metrics["temperature"] == pytest.approx(trained_run.result.predictor.temperature)
    assert 0 < metrics["temperature"] < 1
    assert metrics["cv_ece"] == pytest.approx(trained_run.cv.ece) and metrics["cv_ece"] <= MAX_CV_ECE
    assert 0 <= metrics["test_ece"] < 0.1
    # The monitor's accuracy estimate (mean top probability) against the measured accuracy, on the test split.
    assert abs(metrics["test_confidence_mean"] - metrics["test_accuracy"]) < 0.03
    cv_doc = mlflow.artifacts.load_dict(f"runs:/{trained_run.run_id}/cv_performance.json")["cv"]
    assert cv_doc["ece"] == pytest.approx(metrics["cv_ece"])


def test_the_reference_profile_is_found_as_the_monitor_looks_for_it(trained_run, tmp_path):
    path = mlflow.artifacts.download_artifacts(run_id=trained_run.run_id, artifact_path=PROFILE_ARTIFACT,
                                               dst_path=str(tmp_path))
    profile = json.loads(Path(path).read_text())
    assert profile == trained_run.cv.reference_profile()
    assert profile["format"] == PROFILE_FORMAT and profile["source"] == PROFILE_SOURCE
    first_repeat = trained_run.cv.first_repeat()
    assert profile["rows"] == len(first_repeat) == first_repeat["id"].nunique()
    assert profile["classes"] == trained_run.result.predictor.classes.tolist()
    for name in ("confidence", "text_chars", "text_words", "oov_share"):
        assert len(profile[name]) == profile["rows"] and profile[name] == sorted(profile[name]), name
    assert 0 < min(profile["confidence"]) and max(profile["confidence"]) <= 1
    assert 0 < sum(v > 0 for v in profile["oov_share"]) < profile["rows"]


def test_the_reference_profile_picture_is_a_png(trained_run, tmp_path):
    path = mlflow.artifacts.download_artifacts(run_id=trained_run.run_id, artifact_path="reference_profile.png",
                                               dst_path=str(tmp_path))
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
