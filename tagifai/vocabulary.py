"""The words a fitted pipeline knows, read from what it already holds, for the out-of-vocabulary share the
inference log and the reference profile record (tagifai.profile.text_stats).

What "knows" means per feature block, in the form predict's cleaned words take (lowercase, alphanumeric):
- a word TF-IDF (analyzer "word", alone or in a FeatureUnion): its unigrams, learned from the training texts. Not
  when a TextAndEmbedding stems for it: its unigrams are then stems, and the cleaned words are not.
- a static embedding (tagifai.embeddings): the WordPiece vocabulary's whole-word tokens (not `##` pieces nor
  [special] tokens). Any word splits into pieces, so only a whole-word token is one the table has a vector for.
  The shipped model (char_wb TF-IDF + minilm64_learned) knows its words this way: ~23,000 English words.
- char n-grams hold no words: a char_wb-only model has no vocabulary (None: the share is not measured).
"""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from tagifai.features import TextAndEmbedding


def known_words(pipeline: Pipeline) -> frozenset[str] | None:
    """The union of the words of every block that has words (module doc), None if no block has."""
    vectorizer = pipeline.steps[0][1]
    found: list[set[str]] = []
    tfidf = vectorizer
    if isinstance(vectorizer, TextAndEmbedding):
        found.append(embedding_words(vectorizer.embedding.vocab_))
        tfidf = None if vectorizer.stem else vectorizer.tfidf
    found.extend(_unigrams(part) for part in _word_tfidfs(tfidf))
    return frozenset().union(*found) if found else None


def embedding_words(tokens) -> set[str]:
    """Whole-word WordPiece tokens that a cleaned word can equal (lowercase ASCII letters and digits)."""
    return {t for t in tokens if t.isascii() and t.isalnum() and t == t.lower()}


def _word_tfidfs(tfidf) -> list[TfidfVectorizer]:
    parts = [t for _, t in tfidf.transformer_list] if isinstance(tfidf, FeatureUnion) else [tfidf]
    return [p for p in parts if isinstance(p, TfidfVectorizer) and p.analyzer == "word"]


def _unigrams(vectorizer: TfidfVectorizer) -> set[str]:
    return {term for term in vectorizer.vocabulary_ if " " not in term}
