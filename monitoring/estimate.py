"""The accuracy estimate before labels arrive: the mean of the top probability (the logged `confidence`).

If the probabilities are calibrated, row i is right with probability p_i, so the number of right rows is
Poisson-binomial: mean sum(p_i), variance sum(p_i (1 - p_i)). The estimate's standard deviation is therefore
sqrt(sum p(1-p)) / n, and the 95% interval mean ± 1.96 sd (normal approximation, clipped to [0, 1]). It says
how much the window's own luck moves the estimate; it cannot see miscalibration (docs/monitoring.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

Z95 = 1.959964


@dataclass(frozen=True)
class Estimate:
    accuracy: float
    std: float
    low: float
    high: float
    rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_accuracy(confidence: np.ndarray) -> Estimate:
    p = np.asarray(confidence, dtype=float)
    if not len(p):
        raise ValueError("no confidences to estimate accuracy from")
    mean = float(p.mean())
    std = math.sqrt(float(np.sum(p * (1 - p)))) / len(p)
    return Estimate(mean, std, max(0.0, mean - Z95 * std), min(1.0, mean + Z95 * std), len(p))
