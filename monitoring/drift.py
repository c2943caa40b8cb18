"""Drift signals: a window of logged predictions against the served version's reference profile.

Pure numpy/scipy. A signal drifts only when its effect size is above its threshold AND, where it has a test,
the test's p-value is below `alpha`: the effect size says the change is large enough to matter, the test that
it is not sampling noise. Either alone misfires: a p-value alone fires on tiny shifts in a big window, an effect
size alone fires on noise in a small one (PSI of 115 rows drawn from the reference itself averages ~0.03 and
reaches 0.1). The defaults and the false-alarm measurement behind them are in docs/monitoring.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
from scipy import stats

from monitoring.errors import ThresholdError

# Floor for a share of 0 (a tag the window never predicted, or the reference never did): PSI's log stays finite.
EPSILON = 1e-4
SIGNALS = ("tag_psi", "tag_chi2", "confidence_ks", "text_chars_ks", "oov_share_ks")


@dataclass(frozen=True)
class Thresholds:
    """The one place for the defaults; `tagifai monitor --threshold NAME=VALUE` overrides one."""

    psi: float = 0.25  # population stability index of the predicted-tag shares ("major shift" by convention)
    chi2_effect: float = 0.35  # Cohen's w = sqrt(chi2 / n) of the tag counts (0.3 medium, 0.5 large)
    # Kolmogorov-Smirnov D of the top probability. Higher than the other KS bounds: the served model is refit on
    # all of train + val, a quarter more data than each cross-validation fold model behind the reference, and is
    # surer of itself on unseen projects of the same kind (D ~0.26 on the repo's held-out split, docs/monitoring.md).
    ks_confidence: float = 0.35
    ks_text_chars: float = 0.2  # KS D of the text length in characters
    ks_oov_share: float = 0.2  # KS D of the share of words the model's vocabulary does not know
    alpha: float = 0.01  # a test's p-value must be below this too

    def with_overrides(self, items: Iterable[str]) -> Thresholds:
        """`items` as given on the command line: "psi=0.3", "ks_confidence=0.25", ..."""
        names = [f.name for f in fields(self)]
        changes: dict[str, float] = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise ThresholdError(f"--threshold takes NAME=NUMBER with NAME one of {', '.join(names)}; "
                                     f"got {item!r}")
            try:
                value = float(raw)
            except ValueError:
                raise ThresholdError(f"--threshold {name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or value < 0 or (name == "alpha" and not 0 < value <= 1):
                rule = "between 0 (excluded) and 1" if name == "alpha" else "a finite number >= 0"
                raise ThresholdError(f"--threshold {name} must be {rule}, got {raw!r}")
            changes[name] = value
        return replace(self, **changes)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Signal:
    name: str
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None = None  # None: the signal has no test
    detail: dict = field(default_factory=dict)  # e.g. window and reference means

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "threshold": self.threshold, "drifted": self.drifted,
                "p_value": self.p_value, **self.detail}


def shares(counts: Mapping[str, int], classes: Iterable[str]) -> np.ndarray:
    """Each class's share of the counts, floored at EPSILON."""
    n = sum(counts.values())
    return np.maximum(np.array([counts.get(c, 0) / n for c in classes], dtype=float), EPSILON)


def psi(window: np.ndarray, reference: np.ndarray) -> float:
    """Population stability index: sum over bins of (w - r) * ln(w / r), shares floored at EPSILON."""
    window, reference = np.maximum(window, EPSILON), np.maximum(reference, EPSILON)
    return float(np.sum((window - reference) * np.log(window / reference)))


def tag_signals(counts: Mapping[str, int], reference_shares: Mapping[str, float], th: Thresholds) -> list[Signal]:
    """PSI and the chi-square goodness-of-fit test of the predicted-tag counts against the reference shares.
    Both need p < alpha from the chi-square test; PSI has no test of its own."""
    classes = list(reference_shares) + sorted(set(counts) - set(reference_shares))
    n = sum(counts.values())
    observed = np.array([counts.get(c, 0) for c in classes], dtype=float)
    expected = np.maximum(np.array([reference_shares.get(c, 0.0) for c in classes], dtype=float), EPSILON)
    expected = expected / expected.sum()
    chi2, p_value = stats.chisquare(observed, expected * n)
    chi2, p_value = float(chi2), float(p_value)
    value = psi(shares(counts, classes), expected)
    effect = math.sqrt(chi2 / n)
    tested = p_value < th.alpha
    detail = {"window_shares": {c: counts.get(c, 0) / n for c in classes},
              "reference_shares": {c: float(reference_shares.get(c, 0.0)) for c in classes}}
    return [
        Signal("tag_psi", value, th.psi, value > th.psi and tested, p_value, detail),
        Signal("tag_chi2", effect, th.chi2_effect, effect > th.chi2_effect and tested, p_value, {"chi2": chi2}),
    ]


def ks_signal(name: str, window: np.ndarray, reference: np.ndarray, threshold: float, alpha: float) -> Signal:
    """Two-sample Kolmogorov-Smirnov: D, the largest gap between the two empirical distribution functions."""
    result = stats.ks_2samp(window, reference)
    d, p_value = float(result.statistic), float(result.pvalue)
    detail = {"window_mean": float(np.mean(window)), "reference_mean": float(np.mean(reference))}
    return Signal(name, d, threshold, d > threshold and p_value < alpha, p_value, detail)


def detect(counts: Mapping[str, int], confidence: np.ndarray, text_chars: np.ndarray,
           oov_share: np.ndarray | None, profile: Mapping, th: Thresholds) -> list[Signal]:
    """Every signal the window and the profile allow: the OOV signal needs OOV shares on both sides (a model
    without a vocabulary logs none)."""
    signals = tag_signals(counts, profile["tag_shares"], th)
    signals.append(ks_signal("confidence_ks", confidence, np.asarray(profile["confidence"]), th.ks_confidence,
                             th.alpha))
    signals.append(ks_signal("text_chars_ks", text_chars, np.asarray(profile["text_chars"]), th.ks_text_chars,
                             th.alpha))
    if oov_share is not None and len(oov_share) and profile.get("oov_share"):
        signals.append(ks_signal("oov_share_ks", oov_share, np.asarray(profile["oov_share"]), th.ks_oov_share,
                                 th.alpha))
    return signals
