"""Side by side: `tagifai serve` and plain `mlflow models serve` on the same registered model answer every good
request the protocol allows (4 JSON forms, CSV, Parquet; with and without `params`) with the same status and the
same predictions."""

from __future__ import annotations

import io

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

TEXTS = ["Transfer learning with transformers for text classification.",
         "Generative adversarial networks for image generation.",
         "Monitoring data drift of models in production."]
JSON_FORMS = {
    "dataframe_split": {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}},
    "dataframe_records": {"dataframe_records": [{"text": t} for t in TEXTS]},
    "instances": {"instances": [{"text": t} for t in TEXTS]},
    "inputs (records)": {"inputs": [{"text": t} for t in TEXTS]},
    "inputs (columns)": {"inputs": {"text": TEXTS}},
}
PARAMS = {"no params": None, "threshold 0.9": {"threshold": 0.9}, "threshold 0": {"threshold": 0.0}}


def parquet_body() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"text": TEXTS}).to_parquet(buffer)
    return buffer.getvalue()


REQUESTS = {f"{form}, {p}": (body if params is None else {**body, "params": params}, None)
            for form, body in JSON_FORMS.items() for p, params in PARAMS.items()}
REQUESTS["csv"] = (pd.DataFrame({"text": TEXTS}).to_csv(index=False), "text/csv")
REQUESTS["parquet"] = (parquet_body(), "application/vnd.apache.parquet")


@pytest.fixture(scope="module")
def servers(start_server, champion_uri):
    name = champion_uri.removeprefix("models:/").split("@")[0]
    with start_server(champion_uri) as ours, start_server(f"models:/{name}/Production", launcher="mlflow") as vanilla:
        yield ours, vanilla


@pytest.mark.parametrize("case", list(REQUESTS))
def test_both_servers_answer_the_same(servers, case):
    body, content_type = REQUESTS[case]
    ours, vanilla = (server.post(body) if content_type is None else server.post(body, content_type=content_type)
                     for server in servers)
    assert ours.status_code == vanilla.status_code == 200, (ours.text[:300], vanilla.text[:300])
    assert ours.json() == vanilla.json()
    assert len(ours.json()["predictions"]) == len(TEXTS)
