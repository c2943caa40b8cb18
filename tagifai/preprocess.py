"""Text cleaning and label mapping: one implementation, used at train time and at predict time."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import pandas as pd

from tagifai.config import ACCEPTED_TAGS, OTHER_TAG

# NLTK's English stopword list, inlined: the corpus download needs a hub we cannot rely on.
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him
    his himself she she's her hers herself it it's its itself they them their theirs themselves what which who
    whom this that that'll these those am is are was were be been being have has had having do does did doing a
    an the and but if or because as until while of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own same so than too very s t
    can will just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't
    doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't
    shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't""".split()
)


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching exactly `words`, as a trie: "a(?:n(?:d)?|...)?" instead of "and|an|a|...".

    Python's `re` tries the alternatives of "w1|w2|..." one by one at every position; a trie rejects most
    positions after one character. Greedy optional groups try the longest word first and back off to shorter
    ones, as the longest-first alternation does, so the two patterns match the same text (tests compare them).
    """
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # end of a word

    def pattern(node: dict) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: what follows is optional
            return (body if len(branches) > 1 else f"(?:{body})") + "?"
        return body

    return pattern(trie)


# Compiled once: cleaning is on the request path.
_URL = re.compile(r"http\S+|www\.\S+")
# The lookahead lets `re` skip, in one test, positions no stopword starts at.
_STOPWORDS = re.compile(
    r"\b(?=[" + re.escape("".join(sorted({w[0] for w in STOPWORDS}))) + r"])(?:" + trie_pattern(STOPWORDS) + r")\b\s*"
)
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import PorterStemmer  # imported lazily: only models trained with stem=True need nltk

    return PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str, lower: bool) -> str:
    """Porter stem of one word, cached: stemming is pure Python and ~10x the rest of a request otherwise."""
    return _stemmer().stem(word, to_lowercase=lower)


def clean_text(text: str, lower: bool = True, stem: bool = False) -> str:
    """Lowercase, drop URLs, stopwords and punctuation, collapse whitespace, optionally stem."""
    if lower:
        text = text.lower()
    text = _URL.sub(" ", text)
    # Stopwords are matched case-insensitively only after lowering; with lower=False "The" stays.
    text = _STOPWORDS.sub(" ", text)
    text = _NON_ALNUM.sub(" ", text).strip()
    return stem_words(text, lower) if stem else text


def stem_words(text: str, lower: bool = True) -> str:
    """Porter stem of every word of an already-cleaned text (clean_text(stem=True) = stem_words(clean_text()))."""
    return " ".join(_stem(word, lower) for word in text.split())


def clear_stem_cache() -> None:
    """Forget every stemmed word (benchmarks time predictions on words never seen)."""
    _stem.cache_clear()


def clean_texts(texts: Iterable[str], lower: bool = True, stem: bool = False) -> list[str]:
    return [clean_text(t, lower=lower, stem=stem) for t in texts]


def label_mapping(tags: Sequence[str], min_freq: int) -> dict[str, str]:
    """Raw tag -> label: tags outside the accepted set, or rarer than min_freq, become `other`."""
    counts = Counter(tags)
    return {
        tag: tag if tag in ACCEPTED_TAGS and counts[tag] >= min_freq else OTHER_TAG for tag in sorted(counts)
    }


def apply_mapping(tags: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map raw tags to labels; a tag the mapping has never seen is `other` too."""
    return tags.map(mapping).fillna(OTHER_TAG)
