"""The reference profile: what a model's predictions and inputs looked like on texts it had not seen (the
out-of-fold cross-validation predictions of its training run). `tagifai monitor` compares a window of the
inference log with it. Logged with every training run as the JSON artifact PROFILE_ARTIFACT."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

PROFILE_ARTIFACT = "reference_profile.json"
PROFILE_FORMAT = 1
DECIMALS = 4


@dataclass(frozen=True)
class TextStats:
    chars: int
    words: int
    oov_share: float | None  # None: no vocabulary to measure it with


def text_stats(text: str, cleaned: str, vocabulary: Collection[str] | None) -> TextStats:
    """Length of the text as sent (characters, whitespace-separated words) and the share of its cleaned words
    (as the model reads them) that `vocabulary` does not hold; a text with no cleaned word has share 0."""
    words = cleaned.split()
    if vocabulary is None:
        oov = None
    else:
        oov = sum(w not in vocabulary for w in words) / len(words) if words else 0.0
    return TextStats(chars=len(text), words=len(text.split()), oov_share=oov)


def build_profile(predicted_tags: Sequence[str], confidences: Sequence[float], stats: Sequence[TextStats],
                  classes: Sequence[str], source: str) -> dict:
    """The JSON-ready profile. Distributions are kept as their sorted values (a few thousand at most), so the
    monitor can run two-sample tests and draw histograms without assuming bins."""
    n = len(predicted_tags)
    if not n or not (n == len(confidences) == len(stats)):
        raise ValueError("a profile needs as many tags, confidences and text stats, and at least one row")
    counts = Counter(predicted_tags)
    oov = [s.oov_share for s in stats if s.oov_share is not None]
    return {
        "format": PROFILE_FORMAT,
        "source": source,
        "rows": n,
        "classes": list(classes),
        "tag_shares": {c: counts.get(c, 0) / n for c in classes},
        "confidence": _sorted(confidences),
        "text_chars": sorted(s.chars for s in stats),
        "text_words": sorted(s.words for s in stats),
        "oov_share": _sorted(oov) if len(oov) == n else None,
    }


def _sorted(values) -> list[float]:
    return sorted(round(float(v), DECIMALS) for v in values)
