"""Features: TF-IDF of word n-grams, char_wb n-grams or their union, optionally beside static embeddings."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from tagifai.args import TrainArgs
from tagifai.embeddings import StaticEmbedding
from tagifai.preprocess import stem_words


def build_vectorizer(args: TrainArgs) -> TfidfVectorizer | FeatureUnion | TextAndEmbedding:
    tfidf = build_tfidf(args)
    if args.embedding == "none":
        return tfidf
    return TextAndEmbedding(tfidf, StaticEmbedding(args.embedding, args.embedding_scale), stem=args.stem,
                            lower=args.lower)


def build_tfidf(args: TrainArgs) -> TfidfVectorizer | FeatureUnion:
    common = {
        "sublinear_tf": args.sublinear_tf, "min_df": args.min_df, "max_df": args.max_df,
        "lowercase": False, "dtype": np.float32,
    }
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(args.char_ngram_min, args.ngram_max_range), **common)
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, args.word_ngram_max), **common)
    if args.analyzer == "char_wb":
        return char
    if args.analyzer == "word":
        return word
    return FeatureUnion([("word", word), ("char", char)])


class TextAndEmbedding(TransformerMixin, BaseEstimator):
    """[TF-IDF of the (stemmed) text | embedding of the unstemmed text]: one CSR matrix, the embedding's dense
    columns last (NB-SVM gives them no naive-Bayes ratio: tagifai.nbsvm `n_dense`).

    Takes cleaned, unstemmed texts and stems them itself for the TF-IDF when `stem`: the embedding's vocabulary
    holds words, not stems.
    """

    def __init__(self, tfidf, embedding: StaticEmbedding, stem: bool = False, lower: bool = True):
        self.tfidf = tfidf
        self.embedding = embedding
        self.stem = stem
        self.lower = lower

    def stemmed(self, texts) -> list[str]:
        """The texts as the TF-IDF block reads them."""
        return [stem_words(t, self.lower) for t in texts] if self.stem else list(texts)

    def fit(self, texts, y=None) -> TextAndEmbedding:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts, y=None):
        texts = list(texts)
        tfidf = self.tfidf.fit_transform(self.stemmed(texts))
        dense = self.embedding.fit_transform(texts)
        self.n_dense_ = dense.shape[1]
        return _beside(tfidf, dense)

    def transform(self, texts):
        texts = list(texts)
        return _beside(self.tfidf.transform(self.stemmed(texts)), self.embedding.transform(texts))


def _beside(tfidf, dense: np.ndarray) -> sp.csr_matrix:
    return sp.hstack([tfidf, sp.csr_matrix(dense)], format="csr")
