"""Server settings in one place: flags override environment variables, which override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from monitoring.retention import parse_duration
from monitoring.schema import DEFAULT_URI
from serving.errors import InvalidSettingError

ENV_PREFIX = "TAGIFAI_SERVE_"


_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _env(name: str, default, kind=str):
    variable = ENV_PREFIX + name.upper()
    raw = os.environ.get(variable)
    if raw is None:
        return default
    if kind is bool:
        if raw.strip().lower() not in _BOOLS:
            raise InvalidSettingError(f"{variable} must be true or false, got {raw[:40]!r}")
        return _BOOLS[raw.strip().lower()]
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise InvalidSettingError(f"{variable} must be {what}, got {raw[:40]!r}") from None


@dataclass(frozen=True)
class ServeSettings:
    model_uri: str = field(default_factory=lambda: _env("model_uri", "models:/tagifai@champion"))
    host: str = field(default_factory=lambda: _env("host", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env("port", 8000, int))
    workers: int = field(default_factory=lambda: _env("workers", 1, int))
    # 1 MiB of JSON is ~5,000 typical project descriptions: far beyond a real request, far below harm.
    max_body_bytes: int = field(default_factory=lambda: _env("max_body_bytes", 1_048_576, int))
    max_rows: int = field(default_factory=lambda: _env("max_rows", 5_000, int))
    max_text_chars: int = field(default_factory=lambda: _env("max_text_chars", 20_000, int))
    timeout_seconds: int = field(default_factory=lambda: _env("timeout_seconds", 30, int))
    graceful_shutdown_seconds: int = field(default_factory=lambda: _env("graceful_shutdown_seconds", 30, int))
    allow_local_model: bool = field(default_factory=lambda: _env("allow_local_model", False, bool))
    # Answers kept per worker for repeated texts (LRU); 0 = off. Benchmarks: docs/benchmarks.md#serving.
    cache_size: int = field(default_factory=lambda: _env("cache_size", 0, int))
    # Micro-batching: concurrent requests' rows joined into one predict call of at most this many rows (1 = off),
    # a batch waiting at most max_batch_wait_ms for more. Benchmarks: docs/benchmarks.md#micro-batching.
    max_batch_size: int = field(default_factory=lambda: _env("max_batch_size", 64, int))
    max_batch_wait_ms: float = field(default_factory=lambda: _env("max_batch_wait_ms", 2.0, float))
    # Seconds between checks of the registry for the alias's (or stage's) version; 0 pins the version at start.
    poll_interval: float = field(default_factory=lambda: _env("poll_interval", 10.0, float))
    # A second version compared with the champion on live traffic (follows its alias like the champion).
    challenger: str | None = field(default_factory=lambda: _env("challenger", None))
    challenger_mode: str = field(default_factory=lambda: _env("challenger_mode", "shadow"))
    # split: the share of requests the challenger answers.
    challenger_share: float = field(default_factory=lambda: _env("challenger_share", 0.1, float))
    # shadow: requests waiting for the challenger; beyond this they are dropped (counted), never waited for.
    shadow_queue: int = field(default_factory=lambda: _env("shadow_queue", 1000, int))
    # Bearer tokens (one per line, or name:token); None: no authentication.
    auth_token_file: str | None = field(default_factory=lambda: _env("auth_token_file", None))
    # The store `tagifai batch-score` writes (SQLAlchemy URL): GET /predictions answers from it; None = no store.
    prediction_store: str | None = field(default_factory=lambda: _env("prediction_store", None) or None)
    # The inference log (docs/inference_log.md): one row per scored row, written off the request path;
    # "none" turns it off. Raw texts only with log_inputs; beyond inference_log_queue waiting rows, rows are
    # dropped (counted). Retention: rows older than this are pruned by the writer (e.g. 30d); None keeps all.
    inference_log: str = field(default_factory=lambda: _env("inference_log", DEFAULT_URI))
    log_inputs: bool = field(default_factory=lambda: _env("log_inputs", False, bool))
    inference_log_queue: int = field(default_factory=lambda: _env("inference_log_queue", 10_000, int))
    inference_log_retention: str | None = field(default_factory=lambda: _env("inference_log_retention", None) or None)

    def __post_init__(self) -> None:
        for name in ("port", "workers", "max_body_bytes", "max_rows", "max_text_chars", "timeout_seconds"):
            if getattr(self, name) <= 0:
                raise InvalidSettingError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.poll_interval < float("inf"):
            raise InvalidSettingError(f"poll_interval must be >= 0 seconds, got {self.poll_interval}")
        if self.challenger_mode not in ("shadow", "split"):
            raise InvalidSettingError(f"challenger_mode must be shadow or split, got {self.challenger_mode[:40]!r}")
        if not 0 <= self.challenger_share <= 1:
            raise InvalidSettingError(f"challenger_share must be between 0 and 1, got {self.challenger_share}")
        if self.shadow_queue <= 0:
            raise InvalidSettingError(f"shadow_queue must be > 0, got {self.shadow_queue}")
        if self.cache_size < 0:
            raise InvalidSettingError(f"cache_size must be >= 0, got {self.cache_size}")
        if self.max_batch_size <= 0:
            raise InvalidSettingError(f"max_batch_size must be > 0 (1 turns batching off), got {self.max_batch_size}")
        if not 0 <= self.max_batch_wait_ms <= 10_000:
            raise InvalidSettingError(f"max_batch_wait_ms must be between 0 and 10000, got {self.max_batch_wait_ms}")
        if self.graceful_shutdown_seconds < 0:
            raise InvalidSettingError(f"graceful_shutdown_seconds must be >= 0, got {self.graceful_shutdown_seconds}")
        if self.inference_log_queue <= 0:
            raise InvalidSettingError(f"inference_log_queue must be > 0, got {self.inference_log_queue}")
        if self.inference_log_retention is not None:
            try:
                parse_duration(self.inference_log_retention, "inference_log_retention")
            except ValueError as exc:
                raise InvalidSettingError(str(exc)) from None
