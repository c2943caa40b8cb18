"""Static token embeddings: a text's vector is the mean of the vectors of its WordPiece tokens.

Why: TF-IDF knows only the words of ~500 training projects. "Sentence embeddings" or "named entity recognition"
appear once or twice there, so a linear model on n-grams cannot tell what they are about. Token vectors from a
pretrained sentence encoder (all-MiniLM-L6-v2, reduced to 64 dimensions by PCA) carry what those words mean, at
the cost of a table lookup per word: no transformer runs, at training or at prediction. Two tables (TABLES): the
encoder's input embeddings, and vectors learned so that their mean reproduces its sentence embeddings
(docs/research/static-embeddings.md).

The input is cleaned text (tagifai.preprocess, not stemmed: the vocabulary holds words, not stems). Each word
is split by BERT's greedy longest-match WordPiece; a document's vector is the mean over all its tokens,
divided by the mean norm of the training documents' vectors and multiplied by `scale` (how much weight the
embedding gets against the TF-IDF features, which have unit norm).
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from tagifai.config import ROOT_DIR

EMBEDDINGS_DIR = ROOT_DIR / "data" / "embeddings"
# Embedding name -> matrix file (rows in vocab.txt order). minilm64: the transformer's input-token embeddings
# (scripts/derive_embeddings.py); minilm64_learned: vectors whose mean reproduces its sentence embeddings on a
# corpus of ML prose (scripts/learn_embeddings.py).
TABLES = {"minilm64": "minilm_pca64.npy", "minilm64_learned": "minilm_learned_pca64.npy"}
MAX_WORD_CHARS = 100  # BERT's limit: a longer "word" is one unknown token
WORD_CACHE_SIZE = 50_000  # words per per-word cache (~a few MB; here and in tagifai.fastpath)


class WordCache(dict):
    """word -> what was computed for it. Cleared when it holds `limit` words, so memory stays bounded on an
    endless stream of new words; words repeat, so refilling costs little."""

    def __init__(self, limit: int = WORD_CACHE_SIZE):
        super().__init__()
        self.limit = limit

    def store(self, word: str, value):
        if len(self) >= self.limit:
            self.clear()
        self[word] = value
        return value


class WordPiece:
    """BERT's WordPiece on one already-split, lowercased word: the longest vocabulary prefix, then the longest
    `##` continuation, and so on; a word that cannot be covered is one [UNK] token."""

    def __init__(self, vocab: list[str]):
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.unknown = self.ids["[UNK]"]

    def tokenize(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unknown]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                token = self.ids.get(piece)
                if token is not None:
                    break
            else:
                return [self.unknown]
            ids.append(token)
            start = end
        return ids


@lru_cache(maxsize=None)
def load_table(name: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(vocabulary, matrix) of a committed embedding table, checked against data/embeddings/manifest.json."""
    if name not in TABLES:
        raise ValueError(f"embedding {name!r}: must be one of {', '.join(TABLES)}")
    vocab = tuple((EMBEDDINGS_DIR / "vocab.txt").read_text(encoding="utf-8").splitlines())
    matrix = np.load(EMBEDDINGS_DIR / TABLES[name])
    expected = json.loads((EMBEDDINGS_DIR / "manifest.json").read_text())["shape"][0]
    if matrix.shape[0] != len(vocab) or len(vocab) != expected:
        raise ValueError(f"{TABLES[name]}: {matrix.shape[0]} rows for {len(vocab)} vocabulary entries "
                         f"(manifest: {expected})")
    return vocab, matrix


class StaticEmbedding(TransformerMixin, BaseEstimator):
    """Cleaned texts -> dense (n_texts, dimensions) float64 mean-pooled token embeddings, scaled."""

    def __init__(self, name: str = "minilm64", scale: float = 1.0):
        self.name = name
        self.scale = scale

    def fit(self, texts, y=None) -> StaticEmbedding:
        self._fit(texts)
        return self

    def fit_transform(self, texts, y=None) -> np.ndarray:
        return self._fit(texts) * (self.scale / self.norm_)

    def _fit(self, texts) -> np.ndarray:
        """Load the table, set the norm from `texts`; their pooled vectors (before scaling), computed once."""
        vocab, table = load_table(self.name)
        self.vocab_ = list(vocab)
        # float64 (16 MB): scipy has no float16 product, and a float32 one would round differently from the
        # fast path's folded table (tagifai.fastpath), which a modified-Huber loss magnifies.
        self.vectors_ = table.astype(np.float64)
        pooled = self._pooled(texts)
        norms = np.linalg.norm(pooled, axis=1)
        self.norm_ = float(norms[norms > 0].mean()) if (norms > 0).any() else 1.0
        self.n_features_in_ = 1
        return pooled

    def transform(self, texts) -> np.ndarray:
        check_is_fitted(self, "vectors_")
        return self._pooled(texts) * (self.scale / self.norm_)

    def _pooled(self, texts) -> np.ndarray:
        """Mean token vector per text."""
        return np.asarray(self.token_frequencies(texts) @ self.vectors_)

    def token_frequencies(self, texts) -> sp.csr_matrix:
        """(texts x vocabulary) CSR: each token's share of the text's tokens (rows sum to 1, or 0 if no token).
        Times `vectors_` it is the mean token vector; tagifai.fastpath multiplies it by `vectors_ @ weights`."""
        parts, lengths = [], []
        for text in texts:
            n = 0
            for word in text.split():
                ids = self._token_ids(word)
                parts.append(ids)
                n += len(ids)
            lengths.append(n)
        flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
        lengths = np.asarray(lengths, dtype=np.int32)
        shares = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        # A token repeated in a text appears once per occurrence: every product sums them (no COO -> CSR pass).
        return sp.csr_matrix((shares, flat, indptr), shape=(len(lengths), self.vectors_.shape[0]))

    def clear_cache(self) -> None:
        self.__dict__.pop("_cache", None)

    def _token_ids(self, word: str) -> np.ndarray:
        """A word's WordPiece token ids, cached per word (words repeat; tokenizing is pure Python)."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            cache = self.__dict__["_cache"] = WordCache()
        ids = cache.get(word)
        if ids is None:
            pieces = self.__dict__.get("_wordpiece")
            if pieces is None:
                pieces = self.__dict__["_wordpiece"] = WordPiece(self.vocab_)
            ids = cache.store(word, np.array(pieces.tokenize(word.lower()), dtype=np.int32))
        return ids

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_cache", None)
        state.pop("_wordpiece", None)
        return state
