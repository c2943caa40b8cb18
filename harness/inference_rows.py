"""Realistic inference-log rows for the monitoring tests and bench_monitor.py, and a registered version with a
reference profile to monitor them against.

- `example_profile`: a reference profile (tagifai.profile.build_profile) from the repo's labeled projects: their
  real tags (outside the accepted ones: `other`) and real text lengths; confidence and OOV share are drawn from
  Beta distributions shaped like a trained model's (mean ~0.84 and ~0.16), as the repo has no logged profile yet.
- `in_distribution`: rows drawn from a profile itself (every column from its values): what unseen projects of
  the training data's kind look like to the monitor. `shifted`: cooking / sports / finance texts (mostly
  `other`, low confidence, high OOV share). `single_class`: in-distribution rows all predicted as one tag.
- `shifted_texts`: real texts about cooking, sports and finance, for a real server to score (the end-to-end test).
- `insert_rows`: into the inference_log table through monitoring.schema.
- `register_profiled_version`: a real MLflow run holding the profile artifact, registered as a version with an
  alias (no model is trained: the monitor reads only the run's profile).
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from monitoring import schema
from tagifai import config
from tagifai.profile import PROFILE_ARTIFACT, TextStats, build_profile

CLASSES = (*config.ACCEPTED_TAGS, config.OTHER_TAG)
SHIFTED_TOPICS = ("slow-cooked beef ragu with fresh pasta", "the derby ended in a late penalty",
                  "quarterly earnings beat analyst estimates")
INSERT_BATCH = 10_000
_SHIFTED_SUBJECTS = ("sourdough bread", "a slow-cooked beef stew", "vegan lasagna", "lemon meringue pie", "pad thai",
                     "homemade pasta dough", "the marathon season", "a youth football league", "tennis serve drills",
                     "basketball pickup games", "a swimming relay team", "the rugby final", "a household budget",
                     "retirement savings accounts", "the quarterly tax return", "credit card debt",
                     "index fund dividends", "mortgage refinancing", "a small bakery's cash flow",
                     "the family's holiday spending")
_SHIFTED_SHAPES = ("{s}: tips from my grandmother and what our neighbours thought of it",
                   "Weekend notes on {s}, with photos, mistakes and what we would change next time",
                   "How our club handles {s} every year, and why everyone keeps coming back",
                   "A beginner's honest guide to {s} without spending too much money",
                   "Lessons learned about {s} after three seasons with friends and family",
                   "Everything we wish we had known about {s} before we started")


def repo_projects() -> pd.DataFrame:
    """text (title + " " + description) and tag (outside the accepted tags: other) of data/labeled_projects.csv."""
    df = pd.read_csv(config.DATA_PATH, dtype=str, keep_default_na=False)
    tags = df["tag"].where(df["tag"].isin(config.ACCEPTED_TAGS), config.OTHER_TAG)
    return pd.DataFrame({"text": df["title"] + " " + df["description"], "tag": tags})


def example_profile(seed: int = 0) -> dict:
    projects = repo_projects()
    rng = np.random.default_rng(seed)
    n = len(projects)
    confidence = np.clip(rng.beta(8, 1.5, n), 0.26, 1.0)
    oov = rng.beta(1.5, 8, n)
    stats = [TextStats(len(t), len(t.split()), float(o)) for t, o in zip(projects["text"], oov)]
    return build_profile(projects["tag"].tolist(), confidence, stats, CLASSES, source="harness example profile")


def reference_sample(profile: dict, n: int, rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray,
                                                                             np.ndarray]:
    """(tag counts, confidence, text_chars, oov_share) of n rows drawn from the profile, as numpy only: the
    false-alarm checks draw thousands of windows."""
    classes = list(profile["tag_shares"])
    shares = np.array([profile["tag_shares"][c] for c in classes])
    counts = dict(zip(classes, rng.multinomial(n, shares / shares.sum()).tolist()))
    draw = lambda key: rng.choice(np.asarray(profile[key]), n)  # noqa: E731
    return counts, draw("confidence"), draw("text_chars"), draw("oov_share")


def _frame(tags: np.ndarray, confidence: np.ndarray, chars: np.ndarray, oov: np.ndarray, topic: np.ndarray,
           model_name: str, version: int, role: str, logged_at: datetime, rng) -> pd.DataFrame:
    n = len(tags)
    request_ids = [f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2 ** 63, (n, 2))]
    texts = [f"{t} {rid}" for t, rid in zip(topic, request_ids)]  # unique texts, so labels can join by text
    at = logged_at.astimezone(timezone.utc).replace(tzinfo=None) if logged_at.tzinfo else logged_at
    return pd.DataFrame({
        "logged_at": (at - pd.to_timedelta(rng.uniform(0, 60, n), unit="s")).floor("us"),
        "request_id": request_ids,
        "model_name": model_name,
        "model_version": version,
        "role": role,
        "text_chars": chars.astype(int),
        "text_words": np.maximum(1, chars // 7).astype(int),
        "oov_share": oov,
        "text_hash": [schema.text_hash(t) for t in texts],
        "text": None,  # the server stores it only with --log-inputs
        "predicted_tag": tags,
        "confidence": confidence,
        "probabilities": [json.dumps({t: round(float(c), 4)}) for t, c in zip(tags, confidence)],
        "latency_ms": rng.uniform(2, 8, n),
        "sent_text": texts,  # not a table column: what the client sent, for label files joined by text
    })


def in_distribution(profile: dict, n: int, model_name: str, version: int, role: str = "champion",
                    logged_at: datetime | None = None, seed: int = 0, tag: str | None = None) -> pd.DataFrame:
    """Rows drawn from the profile's own distributions; `tag`: every row predicted as that tag (single-class)."""
    rng = np.random.default_rng(seed)
    classes = list(profile["tag_shares"])
    shares = np.array([profile["tag_shares"][c] for c in classes])
    tags = np.full(n, tag) if tag else rng.choice(classes, n, p=shares / shares.sum())
    draw = lambda key: rng.choice(np.asarray(profile[key]), n)  # noqa: E731
    return _frame(tags, draw("confidence"), draw("text_chars"), draw("oov_share"), tags, model_name, version,
                  role, logged_at or datetime.now(timezone.utc), rng)


def single_class(profile: dict, n: int, model_name: str, version: int, tag: str = "computer-vision",
                 **kwargs) -> pd.DataFrame:
    return in_distribution(profile, n, model_name, version, tag=tag, **kwargs)


def shifted(profile: dict, n: int, model_name: str, version: int, role: str = "champion",
            logged_at: datetime | None = None, seed: int = 0) -> pd.DataFrame:
    """Texts about cooking, sports and finance: mostly `other`, confidence ~0.5, ~80% of words unknown."""
    rng = np.random.default_rng(seed)
    classes = list(profile["tag_shares"])
    other = np.array([0.8 if c == config.OTHER_TAG else 0.2 / (len(classes) - 1) for c in classes])
    tags = rng.choice(classes, n, p=other / other.sum())
    topics = rng.choice(np.array(SHIFTED_TOPICS), n)
    return _frame(tags, rng.beta(3, 3, n), rng.choice(np.asarray(profile["text_chars"]), n), rng.beta(8, 2, n),
                  topics, model_name, version, role, logged_at or datetime.now(timezone.utc), rng)


def shifted_texts() -> list[str]:
    """120 distinct texts about cooking, sports and finance (20 subjects x 6 sentence shapes)."""
    return [shape.format(s=s) for s, shape in itertools.product(_SHIFTED_SUBJECTS, _SHIFTED_SHAPES)]


def table_rows(frame: pd.DataFrame) -> list[dict]:
    records = frame.drop(columns=["sent_text"]).to_dict("records")
    for r in records:
        r["logged_at"] = r["logged_at"].to_pydatetime()
    return records


def insert_rows(uri: str, frames: list[pd.DataFrame]) -> None:
    """The frames' rows into the log at `uri` (the table created if missing), in batches."""
    from sqlalchemy import insert

    eng = schema.engine(uri)
    try:
        schema.ensure_table(eng)
        for frame in frames:
            records = table_rows(frame)
            for start in range(0, len(records), INSERT_BATCH):
                with eng.begin() as conn:
                    conn.execute(insert(schema.inference_log), records[start:start + INSERT_BATCH])
    finally:
        eng.dispose()


def hours_ago(hours: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=hours)


def register_profiled_version(model_name: str, profile: dict | None, alias: str = "champion",
                              experiment: str = "tests-monitoring") -> int:
    """A run with `profile` as its PROFILE_ARTIFACT (None: a run trained before monitoring, without one),
    registered as a new version of `model_name` and given `alias`; the version number."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"{model_name}-{alias}") as run:
        if profile is not None:
            mlflow.log_dict(profile, PROFILE_ARTIFACT)
    client = MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        client.create_registered_model(model_name)
    version = client.create_model_version(model_name, source=run.info.artifact_uri, run_id=run.info.run_id)
    client.set_registered_model_alias(model_name, alias, version.version)
    return int(version.version)
