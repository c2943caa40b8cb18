"""The drift signals on windows drawn from a realistic profile: quiet on the reference's own kind of traffic,
loud on shifted or single-class traffic, and the threshold overrides."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness.inference_rows import example_profile, in_distribution, reference_sample, shifted, single_class
from monitoring.drift import Thresholds, detect, ks_signal, psi
from monitoring.errors import ThresholdError


@pytest.fixture(scope="module")
def profile() -> dict:
    return example_profile()


def signals_of(frame, profile, th=Thresholds()) -> dict:
    found = detect(Counter(frame["predicted_tag"]), frame["confidence"].to_numpy(), frame["text_chars"].to_numpy(),
                   frame["oov_share"].to_numpy(), profile, th)
    return {s.name: s for s in found}


def drifted(frame, profile, th=Thresholds()) -> set[str]:
    return {name for name, s in signals_of(frame, profile, th).items() if s.drifted}


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    ref = np.array([0.4, 0.4, 0.1, 0.1])
    assert psi(ref, ref) == 0
    assert 0 < psi(np.array([0.35, 0.45, 0.1, 0.1]), ref) < psi(np.array([0.1, 0.1, 0.1, 0.7]), ref)


def test_samples_of_the_reference_itself_rarely_fire(profile):
    """200 windows of 115 rows drawn from the reference (fixed seeds): fewer than 1% fire anything. The same
    check with 1000 draws and other sizes is in docs/monitoring.md."""
    rng = np.random.default_rng(0)
    fired = sum(any(s.drifted for s in detect(*reference_sample(profile, 115, rng), profile, Thresholds()))
                for _ in range(200))
    assert fired <= 2


@pytest.mark.parametrize("rows", [115, 300])
def test_shifted_traffic_fires_confidence_oov_and_tags(profile, rows):
    assert {"confidence_ks", "oov_share_ks", "tag_psi", "tag_chi2"} <= drifted(shifted(profile, rows, "m", 1),
                                                                                profile)


def test_single_class_traffic_fires_the_tag_signals_only(profile):
    assert drifted(single_class(profile, 200, "m", 1, tag="mlops"), profile) == {"tag_psi", "tag_chi2"}


def test_a_large_window_with_a_tiny_shift_does_not_fire(profile):
    """p-values alone would: 100k rows make a 0.02 shift of confidence 'significant', its effect is small."""
    window = np.random.default_rng(0).choice(np.asarray(profile["confidence"]), 100_000) - 0.02
    confidence = ks_signal("confidence_ks", window, np.asarray(profile["confidence"]), 0.2, 0.01)
    assert confidence.p_value < 0.01 and confidence.statistic < 0.2 and not confidence.drifted


def test_a_tag_the_reference_never_predicted_fires(profile):
    frame = in_distribution(profile, 200, "m", 1)
    frame.loc[:60, "predicted_tag"] = "graph-learning"
    assert {"tag_psi", "tag_chi2"} <= drifted(frame, profile)


def test_without_oov_shares_there_is_no_oov_signal(profile):
    frame = in_distribution(profile, 100, "m", 1)
    found = detect(Counter(frame["predicted_tag"]), frame["confidence"].to_numpy(), frame["text_chars"].to_numpy(),
                   None, profile, Thresholds())
    assert "oov_share_ks" not in {s.name for s in found}


def test_overrides_change_the_decision(profile):
    frame = single_class(profile, 200, "m", 1, tag="mlops")
    looser = Thresholds().with_overrides(["psi=1000", "chi2_effect=1000"])
    assert (looser.psi, looser.chi2_effect, looser.alpha) == (1000, 1000, Thresholds().alpha)
    assert drifted(frame, profile, looser) == set()


@pytest.mark.parametrize("item, named", [
    ("psi", "NAME=NUMBER"), ("nope=1", "NAME=NUMBER"), ("psi=high", "psi must be a number"),
    ("ks_confidence=-0.1", "ks_confidence must be a finite number >= 0"), ("alpha=0", "alpha must be between"),
    ("psi=nan", "psi must be a finite"),
])
def test_bad_overrides_name_the_rule(item, named):
    with pytest.raises(ThresholdError, match=named) as caught:
        Thresholds().with_overrides([item])
    assert caught.value.exit_code == 2
