"""Follow the registry: every poll interval, ask which version the alias (or stage) names; when it names another
one, load it beside the one serving (download, load, warm up) and swap it in, in this worker, while requests go on.

A version that cannot be served is refused: the one serving goes on, one log line and a counter say so, and it
is tried again only when the alias moves (or after a back-off that doubles). A registry that cannot be asked
is reported once, and the alias is picked up again when it answers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving import metrics
from serving.errors import ServeError
from serving.served import ModelIdentity, ModelSlot, ServedVersion, iso
from serving.status import StatusBoard
from serving.target import Target

logger = logging.getLogger("tagifai.follower")

RETRY_AFTER_S = 60.0  # a refused version is tried again after this, doubled per refusal ...
MAX_RETRY_AFTER_S = 3600.0  # ... up to this, unless the alias moves first
NOTHING_BEHIND = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")

Loader = Callable[[str, str, ModelIdentity, "str | None"], ServedVersion]  # (uri, folder, identity, pointer)


class Follower:
    """Follows one alias into one slot. The champion's slot always holds a version: when its alias names none,
    it keeps what it has. A challenger's (`optional`) empties when its alias goes."""

    def __init__(self, target: Target, slot: ModelSlot, load: Loader, interval: float, board: StatusBoard,
                 worker: int = 0, optional: bool = False):
        self.target, self.slot, self.load, self.interval, self.board = target, slot, load, interval, board
        self.worker, self.optional = worker, optional
        self.client = MlflowClient()
        self.last_reload: dict | None = None
        self.registry: dict = {"reachable": True}
        self.refused: dict[str, tuple[int, float]] = {}  # version -> (refusals, when it may be tried again)
        self.last_seen: str | None = slot.version
        self.folders: dict[str, str] = {}  # version -> the folder this worker downloaded it to
        self._stop = threading.Event()

    @property
    def follows(self) -> bool:
        return self.interval > 0 and self.target.moves

    @property
    def role(self) -> str:
        return "challenger" if self.optional else "champion"

    def start(self) -> threading.Thread | None:
        """Publish this worker's state; poll in a daemon thread if the target can move (at once if the slot
        is empty: a challenger is not loaded before the workers start, so that it can never stop a start)."""
        self.publish()
        if not self.follows and self.slot.current is not None:
            return None
        thread = threading.Thread(target=self._run, name=f"tagifai-{self.role}-follower", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        # Polls on a fixed schedule (not interval after the end of the last one), so that a slow registry answer
        # does not add to the time until a change is seen; a poll that overran is followed at once.
        due = time.monotonic() + (0.0 if self.slot.current is None else self.interval)
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the thread must outlive any surprise; the server keeps serving
                logger.exception("worker %d: registry poll failed unexpectedly", self.worker)
            if not self.follows:  # a pinned challenger: loaded once
                return
            due = max(due + self.interval, time.monotonic())

    def poll(self) -> None:
        """One check of the registry, and a swap if the alias names a version that can be served."""
        version = self._resolve()
        if version is None:
            return
        if version != self.last_seen:  # the alias moved: what was refused before may be tried again
            self.last_seen = version
            self.refused.pop(version, None)
        if version == self.slot.version or self._waiting(version):
            return
        self.switch(version)

    def _alias_gone(self) -> None:
        """The alias names no version: a challenger leaves (the champion serves alone); a champion stays."""
        self.last_seen = None
        if self.optional and self.slot.current is not None:
            gone = self.slot.swap(None).identity.version
            logger.warning("worker %d: alias '%s' removed: %s version %s no longer serves", self.worker,
                           self.target.pointer, self.role, gone)
            self.publish()
            self._release(gone)

    def switch(self, version: str) -> None:
        uri = self.target.version_uri(version)
        identity = ModelIdentity(self.target.name, version)
        folder = tempfile.mkdtemp(prefix=f"tagifai-v{version}-")
        started = time.monotonic()
        try:
            served = self.load(uri, folder, identity, self.target.pointer)
        except ServeError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self._refuse(version, str(exc))
            return
        old = self.slot.swap(served)
        replaced = old.identity.version if old is not None else None
        del old, served  # from here on, only requests still running on the old version keep it alive
        self.folders[version] = folder
        self._record(version, "ok", None)
        metrics.RELOADS.labels(result="ok", model_name=identity.name, model_version=version, role=self.role).inc()
        logger.warning("worker %d: now serving %s version %s as %s (was %s; loaded in %.1f s)", self.worker,
                       identity.name, version, self.role, replaced or "none", time.monotonic() - started)
        if replaced is not None:
            self._release(replaced)

    def _resolve(self) -> str | None:
        try:
            version = self.target.resolve(self.client)
        except MlflowException as exc:
            if exc.error_code in NOTHING_BEHIND:  # answered: the alias names no version
                self._reachable()
                self._alias_gone()
                return None
            self._unreachable(exc)
            return None
        except Exception as exc:  # noqa: BLE001 - connection refused, timeouts, bad credentials ...
            self._unreachable(exc)
            return None
        self._reachable()
        return version

    def _waiting(self, version: str) -> bool:
        refusals = self.refused.get(version)
        return refusals is not None and time.monotonic() < refusals[1]

    def _refuse(self, version: str, reason: str) -> None:
        count = self.refused.get(version, (0, 0.0))[0] + 1
        delay = min(RETRY_AFTER_S * 2 ** (count - 1), MAX_RETRY_AFTER_S)
        self.refused[version] = (count, time.monotonic() + delay)
        self._record(version, "failed", reason)
        metrics.RELOADS.labels(result="failed", model_name=self.target.name, model_version=version,
                               role=self.role).inc()
        logger.error("worker %d: refused %s version %s as %s, %s (next try in %.0f s unless the alias moves): %s",
                     self.worker, self.target.name, version, self.role, self._still(), delay, reason)

    def _still(self) -> str:
        if self.slot.current is not None:
            return f"still serving version {self.slot.version}"
        return "the champion serves alone"

    def _unreachable(self, exc: Exception) -> None:
        if self.registry["reachable"]:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            self.registry = {"reachable": False, "since": iso(time.time()), "error": reason}
            metrics.REGISTRY_ERRORS.labels(model_name=self.target.name).inc()
            logger.error("worker %d: registry unreachable (%s alias '%s'), %s: %s", self.worker, self.role,
                         self.target.pointer, self._still(), reason)
            self.publish()

    def _reachable(self) -> None:
        if not self.registry["reachable"]:
            logger.warning("worker %d: registry reachable again (unreachable since %s)", self.worker,
                           self.registry["since"])
            self.registry = {"reachable": True}
            self.publish()

    def _record(self, version: str, status: str, reason: str | None) -> None:
        self.last_reload = {"version": version, "role": self.role, "status": status, "reason": reason,
                            "at": iso(time.time())}
        self.publish()

    def publish(self) -> None:
        serving = self.slot.current.describe() if self.slot.current is not None else None
        self.board.publish({"serving": serving, "last_reload": self.last_reload, "registry": self.registry})

    def _release(self, version: str) -> None:
        """Give a swapped-out version's memory back. Reference counting frees it once the last request on it is
        done (a loaded version holds no reference cycle: measured, none is left after ten swaps with the
        collector off), so no gc.collect(): a full collection holds the GIL for 0.2-0.6 s and stalls every
        request of this worker. Freed heap goes back to the system here; this worker's download goes too."""
        folder = self.folders.pop(version, None)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        _trim_heap()


def _trim_heap() -> None:
    """glibc keeps freed memory in its arenas; malloc_trim hands it back (ctypes releases the GIL meanwhile)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to trim
        pass
