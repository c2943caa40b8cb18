"""The promotion gate: a candidate model must pass the behavioural tests and the slice checks.

Behavioural tests (tagifai.behaviour) run on the candidate itself, loaded from its model URI, as it would
be served (its own threshold). Slice checks read the candidate's run: the slices of its cross-validation
predictions (every train + val project predicted by a model that did not see it, `cv_slices/<name>/f1`), or,
for a run without cross-validation, the test split's slices in performance.json. A slice with fewer than
MIN_SLICE_SAMPLES projects is reported but not judged: a score on 2 projects says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow import MlflowClient

from tagifai.behaviour import BehaviourReport, for_model_uri, run_behaviour
from registry.errors import PromotionRefusedError
from tagifai.evaluate import SLICES

SLICE_MIN_F1 = {name: 0.7 for name in SLICES}
MIN_SLICE_SAMPLES = 5


@dataclass(frozen=True)
class SliceCheck:
    name: str
    source: str  # "cv" (out-of-fold predictions on train + val) or "test"
    f1: float | None
    num_samples: int
    minimum: float

    @property
    def judged(self) -> bool:
        return self.f1 is not None and self.num_samples >= MIN_SLICE_SAMPLES

    @property
    def passed(self) -> bool:
        return not self.judged or self.f1 >= self.minimum

    def describe(self) -> str:
        if self.f1 is None:
            return f"slice {self.name}: no samples"
        status = "" if self.judged else f" (not judged: fewer than {MIN_SLICE_SAMPLES} samples)"
        return (f"slice {self.name} ({self.source}): f1={self.f1:.3f}, minimum {self.minimum:.2f}, "
                f"n={self.num_samples}{status}")


@dataclass
class GateResult:
    model_uri: str
    behaviour: BehaviourReport
    slices: list[SliceCheck] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return ([f"behaviour: {r.describe()}" for r in self.behaviour.failures]
                + [c.describe() for c in self.slices if not c.passed])

    @property
    def passed(self) -> bool:
        return not self.failures


def slice_checks(run_id: str, client: MlflowClient | None = None) -> list[SliceCheck]:
    metrics = (client or MlflowClient()).get_run(run_id).data.metrics
    checks = []
    for name in SLICES:
        source = "cv" if f"cv_slices/{name}/num_samples" in metrics else "test"
        prefix = "cv_slices" if source == "cv" else "slices"
        n = int(metrics.get(f"{prefix}/{name}/num_samples", 0))
        f1 = metrics.get(f"{prefix}/{name}/f1") if n else None
        checks.append(SliceCheck(name, source, f1, n, SLICE_MIN_F1[name]))
    return checks


def check_candidate(model_uri: str, run_id: str | None = None, client: MlflowClient | None = None) -> GateResult:
    """Run the gate on `model_uri` (slice checks need the run: given, or the model's source run)."""
    import mlflow

    behaviour = run_behaviour(for_model_uri(model_uri))
    run_id = run_id or mlflow.models.get_model_info(model_uri).run_id
    return GateResult(model_uri, behaviour, slice_checks(run_id, client) if run_id else [])


def gate_failures(model_uri: str, run_id: str | None = None) -> list[str]:
    """What stops `model_uri` from becoming the champion ([] when it may)."""
    return check_candidate(model_uri, run_id).failures


def enforce(model_uri: str, run_id: str) -> None:
    """Raise PromotionRefusedError listing every failure (called by promote unless forced)."""
    failures = gate_failures(model_uri, run_id)
    if failures:
        reasons = "\n".join(f"  - {f}" for f in failures)
        raise PromotionRefusedError(
            f"candidate run {run_id} fails the promotion gate ({len(failures)} failure(s)):\n{reasons}\n"
            "use --force to promote anyway"
        )
