"""Which version answers a request: the champion, or in split mode the challenger for a share of requests.

A request with an `X-Routing-Key` header is routed by a stable hash of the key (the same key always gets the
same version while the share stays the same); the others at random.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from serving.served import ModelSlot, ServedVersion

SHADOW, SPLIT = "shadow", "split"


@dataclass
class Router:
    champion: ModelSlot
    challenger: ModelSlot | None = None
    mode: str = SHADOW
    share: float = 0.1

    def pick(self, routing_key: bytes | None) -> ServedVersion:
        challenger = self.challenger.current if self.challenger is not None else None
        if challenger is None or self.mode != SPLIT:
            return self.champion.current
        draw = key_fraction(routing_key) if routing_key else random.random()
        return challenger if draw < self.share else self.champion.current

    def shadowing(self) -> ServedVersion | None:
        """The challenger that scores every request off the response path, if any."""
        if self.mode != SHADOW or self.challenger is None:
            return None
        return self.challenger.current


def key_fraction(key: bytes) -> float:
    """A routing key's place in [0, 1), the same in every worker and process (not Python's salted hash)."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
