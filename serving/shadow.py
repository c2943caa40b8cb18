"""Shadow mode: the challenger scores the rows the champion has just answered, after the answer is sent, in a
background thread with a bounded queue. Nothing it does can change or delay an answer: a full queue drops
the request (counted), an error is counted, and its figures (agreement with the champion, the difference of
the champion's top probability) go to Prometheus, from which GET /models reads them for every worker."""

from __future__ import annotations

import logging
import queue
import threading
import time

from serving import metrics
from serving.inference_log import InferenceLog
from serving.scoring import records_of
from serving.served import ServedVersion

logger = logging.getLogger("tagifai.shadow")


class Shadow:
    """`inference_log`: where the challenger's rows are logged (role "challenger"), once scored."""

    def __init__(self, model_name: str, max_queue: int = 1000, inference_log: InferenceLog | None = None):
        self.jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self.dropped = metrics.SHADOW_DROPPED.labels(model_name=model_name)
        self.log = inference_log
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """In the worker (threads do not survive a fork)."""
        self._thread = threading.Thread(target=self._run, name="tagifai-shadow", daemon=True)
        self._thread.start()

    def submit(self, challenger: ServedVersion, texts: list[str], params, champion_rows,
               request_id: str = "-") -> None:
        try:
            self.jobs.put_nowait((challenger, texts, params, champion_rows, request_id))
        except queue.Full:
            self.dropped.inc()

    def _run(self) -> None:
        while True:
            challenger, texts, params, champion_rows, request_id = self.jobs.get()
            labels = challenger.labels
            started = time.perf_counter()
            try:
                rows = records_of(challenger.scorer.predict(texts, params))
            except Exception:  # noqa: BLE001 - a challenger's fault is counted, never the champion's
                metrics.SHADOW_ERRORS.labels(**labels).inc()
                logger.warning("shadow scoring by version %s failed", challenger.identity.version, exc_info=True)
                continue
            elapsed = time.perf_counter() - started
            metrics.SHADOW_LATENCY.labels(**labels).observe(elapsed)
            if self.log is not None:  # its latency: the challenger's own scoring time
                self.log.add(challenger, texts, rows, request_id, elapsed)
            agreed, difference = compare(records_of(champion_rows), rows)
            metrics.SHADOW_ROWS.labels(**labels).inc(len(rows))
            metrics.SHADOW_AGREED.labels(**labels).inc(agreed)
            metrics.SHADOW_TOP_DIFF.labels(**labels).inc(difference)


def compare(champion: list[dict], challenger: list[dict]) -> tuple[int, float]:
    """(rows with the same predicted tag, sum over rows of |the champion's top probability - the challenger's
    probability of that same tag|)."""
    agreed, difference = 0, 0.0
    for ours, theirs in zip(champion, challenger):
        agreed += ours["predicted_tag"] == theirs["predicted_tag"]
        top = max(ours["probabilities"], key=ours["probabilities"].get)
        difference += abs(ours["probabilities"][top] - theirs["probabilities"].get(top, 0.0))
    return agreed, difference
