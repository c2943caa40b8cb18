"""An in-process scoring app on a fake model (no MLflow model, no server): for fast tests of the app's layers."""

from __future__ import annotations

from types import SimpleNamespace

from serving.app import create_app, serve_one
from serving.served import ModelIdentity
from serving.settings import ServeSettings


class TagsByLength:
    """A python model that answers rows: tag 'long' for texts over 10 characters; raises on the text 'boom'."""

    def predict_records(self, texts, params=None):
        if "boom" in texts:
            raise RuntimeError("secret detail of a model bug")
        return [{"input_text": t, "predicted_tag": "long" if len(t) > 10 else "short"} for t in texts]


def fake_model(python_model=None):
    params = SimpleNamespace(params=[SimpleNamespace(name="threshold")])
    return SimpleNamespace(unwrap_python_model=lambda: python_model or TagsByLength(),
                           metadata=SimpleNamespace(get_params_schema=lambda: params))


def fake_app(tokens=None, **settings):
    limits = {"model_uri": "fake", "max_body_bytes": 2000, "max_rows": 5, "max_text_chars": 50, **settings}
    settings = ServeSettings(**limits)
    return create_app(serve_one(fake_model(), settings, ModelIdentity("fake", "7")), settings, tokens=tokens)


def answers(responses) -> list[tuple[int, object]]:
    """(status, JSON body without its request id) per response: what two servers' answers are compared by."""
    out = []
    for r in responses:
        body = r.json()
        body.pop("request_id", None)
        out.append((r.status_code, body))
    return out
