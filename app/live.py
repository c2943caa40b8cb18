"""`tagifai compare-live`: a running server's GET /models as a table, champion and challenger side by side."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from rich.table import Table

from app.errors import ServerUnreachableError, UsageError

ROWS = (("version", "version"), ("alias", "alias"), ("workers", "workers"), ("requests", "live.requests"),
        ("errors", "live.errors"), ("p50 ms", "live.p50_ms"), ("p99 ms", "live.p99_ms"), ("rows", "live.rows"),
        ("agreement with champion", "live.agreement"),
        ("mean |top probability diff|", "live.mean_abs_top_probability_diff"))


def fetch_models(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url.rstrip("/") + "/models", headers={
        "Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise UsageError(f"{url}/models answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServerUnreachableError(f"cannot read {url}/models: {getattr(exc, 'reason', exc)}") from None


def comparison_table(models: dict) -> Table:
    served = models.get("models", [])
    table = Table(title=f"live: {models.get('model_uri', '')} vs {models.get('challenger_uri') or 'no challenger'}"
                        f" ({models.get('challenger_mode') or 'champion only'})")
    table.add_column("")
    for model in served:
        table.add_column(model.get("role", "champion"))
    for label, path in ROWS:
        table.add_row(label, *(_cell(_get(model, path)) for model in served))
    tags = sorted({tag for model in served for tag in (model.get("live") or {}).get("tag_shares", {})})
    for tag in tags:
        table.add_row(f"share {tag}", *(_cell((model.get("live") or {}).get("tag_shares", {}).get(tag))
                                         for model in served))
    return table


def _get(model: dict, path: str):
    value = model
    for part in path.split("."):
        value = (value or {}).get(part)
    return value


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
