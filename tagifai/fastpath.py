"""The fitted pipeline applied without scikit-learn's per-call overhead, with the same numbers.

`Pipeline.predict_proba` on a few texts spends most of its time outside the arithmetic: FeatureUnion's joblib
dispatch, parameter validation and `check_array` on every step (each one asks narwhals whether the input is a
DataFrame). On many texts, the char_wb n-grams dominate: every n-gram of every word is sliced and looked up,
although the n-grams of a document are just those of its words, and words repeat.

`FastPipeline.compile(pipeline)` reads the fitted attributes once and replays the same operations on the same
dtypes in the same order: counts -> (sublinear) tf -> idf -> row norm -> decision function -> probabilities
(several feature blocks, with a linear classifier: each block's scores summed instead of stacking the blocks,
the same sums in another order, so equal up to rounding).
A char_wb vectorizer caches each word's in-vocabulary n-gram ids (counts are integers, so summing them per word
is exact). Anything it does not recognise is left to scikit-learn (`compile` returns None, or
the classifier's own `predict_proba` runs, without its parameter validation). With static embeddings beside the
TF-IDF (tagifai.features.TextAndEmbedding), the classifier's embedding weights are folded onto the vocabulary
tokens once (`_fold_embedding`): the same probabilities up to rounding. tests/tagifai/test_fast_predict.py checks
that features and probabilities equal the plain pipeline's.

Every scikit-learn private attribute it needs is read by tagifai.sklearn_adapter; one that is missing (another
scikit-learn) raises MissingInternals there, and `compile` returns None: scikit-learn predicts. `agreement`
compares the fast path with the plain pipeline on given texts; training runs it on the run's validation and test
texts and turns the fast path off in the logged model (`Predictor.use_fast_path`) if they differ
(tracking/runs.py logs the `fastpath_*` metrics).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.extmath import safe_sparse_dot, softmax
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l1, inplace_csr_row_normalize_l2

from tagifai.calibrated import SigmoidCalibratedLinear
from tagifai.calibration import TemperatureScaled, apply_temperature
from tagifai.embeddings import WordCache
from tagifai.features import TextAndEmbedding
from tagifai.preprocess import clean_texts
from tagifai.sklearn_adapter import MissingInternals, tfidf_internals
from tagifai.threshold import apply_threshold

logger = logging.getLogger(__name__)

_NORMALIZERS = {"l1": inplace_csr_row_normalize_l1, "l2": inplace_csr_row_normalize_l2, None: None}


class _Tfidf:
    """TfidfVectorizer.transform: CountVectorizer._count_vocab + TfidfTransformer.transform, unchecked (the
    private attributes it needs come from tagifai.sklearn_adapter)."""

    def __init__(self, vec: TfidfVectorizer):
        internals = tfidf_internals(vec)  # MissingInternals: FastPipeline.compile leaves it to scikit-learn
        self.vocabulary = vec.vocabulary_
        self.dtype = vec.dtype
        self.binary = vec.binary
        self.sublinear_tf = internals.sublinear_tf
        self.idf = internals.idf
        if internals.norm not in _NORMALIZERS:
            raise MissingInternals(f"TfidfTransformer.norm={internals.norm!r} is not one this replays")
        self.normalize = _NORMALIZERS[internals.norm]
        self._decode, self._preprocess = vec.decode, vec.build_preprocessor()
        self._char_wb = vec.analyzer == "char_wb"
        if self._char_wb:
            self._white_spaces, self._word_ngrams = internals.white_spaces, internals.word_ngrams
            self._words = WordCache()  # word -> ids of its in-vocabulary n-grams
        else:
            self._analyze = vec.build_analyzer()

    @staticmethod
    def supports(vec) -> bool:
        return (type(vec) is TfidfVectorizer and vec.input == "content" and not callable(vec.analyzer)
                and vec.analyzer in ("word", "char", "char_wb") and vec.norm in _NORMALIZERS
                and hasattr(vec, "vocabulary_"))

    def clear_cache(self) -> None:
        if self._char_wb:
            self._words.clear()

    def _analyzed_ids(self, doc: str) -> list[int]:
        vocabulary = self.vocabulary
        return [i for i in map(vocabulary.get, self._analyze(doc)) if i is not None]

    def _char_wb_ids(self, doc: str) -> list[np.ndarray]:
        """The document's n-grams are those of each of its words, padded with one space on each side."""
        doc = self._preprocess(self._decode(doc))
        cache = self._words
        parts = []
        for word in self._white_spaces.sub(" ", doc).split():
            ids = cache.get(word)
            if ids is None:
                vocabulary = self.vocabulary
                ids = cache.store(word, np.array([i for i in map(vocabulary.get, self._word_ngrams(word))
                                                  if i is not None], dtype=np.int32))
            parts.append(ids)
        return parts

    def _ids(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every in-vocabulary feature id of every document, concatenated, and how many per document."""
        if self._char_wb:
            parts, lengths = [], []
            for doc in docs:
                words = self._char_wb_ids(doc)
                parts.extend(words)
                lengths.append(sum(map(len, words)))
            flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
        else:
            ids, lengths = [], []
            for doc in docs:
                found = self._analyzed_ids(doc)
                ids.extend(found)
                lengths.append(len(found))
            flat = np.array(ids, dtype=np.int32)
        return flat, np.array(lengths, dtype=np.intp)

    def counts(self, docs: Sequence[str]):
        """CountVectorizer.transform: integer counts per (document, feature), CSR with sorted indices.

        One COO -> CSR conversion sums the repeated n-grams of the whole batch in C (no Python loop over them).
        """
        flat, lengths = self._ids(docs)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        shape = (len(lengths), len(self.vocabulary))
        X = sp.coo_array((np.ones(len(flat), dtype=np.intc), (rows, flat)), shape=shape).tocsr()
        X.sort_indices()
        return X

    def transform(self, docs: Sequence[str]):
        counts = self.counts(docs)
        X = sp.csr_array((counts.data.astype(self.dtype), counts.indices, counts.indptr), shape=counts.shape)
        if self.binary:
            X.data.fill(1)
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if self.idf is not None:
            X.data *= self.idf[X.indices]
        if self.normalize is not None:
            self.normalize(X)
        return X


@dataclass(frozen=True)
class _Linear:
    """A linear classifier's predict_proba as scores = X @ coef + intercept, then probabilities from the scores."""

    coef: np.ndarray  # (n_features, n_scores), C-contiguous
    intercept: np.ndarray
    proba: Callable[[np.ndarray], np.ndarray]

    def predict_proba(self, X) -> np.ndarray:
        return self.proba(safe_sparse_dot(X, self.coef, dense_output=True) + self.intercept)

    def split(self, widths: list[int]) -> list[np.ndarray] | None:
        """coef cut into consecutive row blocks of these widths (None if they do not add up to its rows)."""
        if sum(widths) != self.coef.shape[0]:
            return None
        ends = np.cumsum(widths)
        return [np.ascontiguousarray(self.coef[end - w:end]) for w, end in zip(widths, ends)]

    def with_temperature(self, temperature: float) -> _Linear:
        """The same scores, their probabilities temperature-scaled as TemperatureScaled scales them."""
        return replace(self, proba=_scaled(self.proba, temperature))


def _scaled(proba: Callable[[np.ndarray], np.ndarray], temperature: float) -> Callable[[np.ndarray], np.ndarray]:
    if temperature == 1.0:
        return proba
    return lambda X: apply_temperature(proba(X), temperature)


def _linear(clf) -> _Linear | None:
    """SGDClassifier(log_loss) / LogisticRegression (as scikit-learn computes their probabilities) and
    SigmoidCalibratedLinear as a _Linear; None for any other classifier."""
    if type(clf) is SigmoidCalibratedLinear:
        return _Linear(np.ascontiguousarray(clf.coef), clf.intercept, clf.proba_from_scores)
    if type(clf) is SGDClassifier and clf.loss == "log_loss":
        multinomial = False
    elif type(clf) is LogisticRegression:
        multinomial = len(clf.classes_) > 2
    else:
        return None
    # C-contiguous once here: scipy copies a transposed (strided) operand on every sparse @ dense product.
    coef_t = np.ascontiguousarray(clf.coef_.T if clf.coef_.ndim == 2 else clf.coef_)

    def proba(scores: np.ndarray) -> np.ndarray:
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if multinomial:
            return softmax(scores, copy=False)
        from scipy.special import expit

        prob = expit(scores, out=scores)
        if prob.ndim == 1:
            return np.stack([1 - prob, prob], axis=1)
        prob_sum = prob.sum(axis=1)
        all_zero = prob_sum == 0
        if np.any(all_zero):
            prob[all_zero, :] = 1
            prob_sum[all_zero] = prob.shape[1]
        prob /= prob_sum.reshape((prob.shape[0], -1))
        return prob

    return _Linear(coef_t, clf.intercept_, proba)


def _unchecked(method: Callable) -> Callable:
    def call(X):
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return method(X)

    return call


def hstack_csr(blocks: list) -> sp.csr_array:
    """`sp.hstack(blocks, format="csr")` for CSR blocks with the same rows, in a few numpy operations: scipy's
    general path costs ~60 µs per call, a third of a one-row prediction. Each block's entries keep their order
    within a row and follow the earlier blocks' entries of that row."""
    n_rows = blocks[0].shape[0]
    row_nnz = [np.diff(b.indptr) for b in blocks]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(sum(row_nnz), out=indptr[1:])
    nnz = int(indptr[-1])
    dtype = np.result_type(*(b.data.dtype for b in blocks))
    data, indices = np.empty(nnz, dtype=dtype), np.empty(nnz, dtype=np.int64)
    before, offset = indptr[:-1].copy(), 0  # where each row's next block starts; the block's column offset
    for block, counts in zip(blocks, row_nnz):
        rows = np.repeat(np.arange(n_rows), counts)
        pos = before[rows] + np.arange(block.nnz) - block.indptr[rows]
        data[pos], indices[pos] = block.data, block.indices + offset
        before += counts
        offset += block.shape[1]
    index_dtype = np.int32 if max(nnz, offset) < np.iinfo(np.int32).max else np.int64
    return sp.csr_array((data, indices.astype(index_dtype), indptr.astype(index_dtype)), shape=(n_rows, offset))


def _fold_embedding(clf, hybrid: TextAndEmbedding):
    """The classifier with its embedding weights moved onto the tokens: a copy whose last coefficients are
    `vectors @ weights * scale / norm`, one row per vocabulary token (None if it is not a linear model this knows).

    A text's embedding is (token frequencies) @ vectors * scale / norm, so its scores are (token frequencies) @
    (vectors @ weights) * scale / norm: the 64 dense columns per text become ~10-30 sparse token shares, and the
    table product is done once, here. The same numbers up to rounding (~1e-12 in probabilities).
    """
    emb, n_dense = hybrid.embedding, hybrid.n_dense_
    table = emb.vectors_ * (emb.scale / emb.norm_)
    folded = copy.copy(clf)
    if type(clf) is SigmoidCalibratedLinear:  # coef: (n_features, n_scores)
        folded.coef = np.ascontiguousarray(np.vstack([clf.coef[:-n_dense], table @ clf.coef[-n_dense:]]))
    elif type(clf) in (SGDClassifier, LogisticRegression):  # coef_: (n_scores, n_features)
        folded.coef_ = np.hstack([clf.coef_[:, :-n_dense], clf.coef_[:, -n_dense:] @ table.T])
        folded.n_features_in_ = folded.coef_.shape[1]
    else:
        return None
    return folded


class FastPipeline:
    """`predict_proba(texts)` equal to `pipeline.predict_proba(texts)` for the pipelines `compile` accepts."""

    def __init__(self, blocks: list[_Tfidf], predict_proba: Callable, hybrid: TextAndEmbedding | None = None,
                 linear: _Linear | None = None):
        self.blocks = blocks
        self._predict_proba = predict_proba
        # TF-IDF beside a static embedding: the features stem for the TF-IDF, and the embedding enters as token
        # frequencies (the classifier was folded onto them: _fold_embedding).
        self.hybrid = hybrid
        # Several feature blocks and a linear classifier: scores are summed block by block (X @ coef is the sum
        # of each block's product with its rows of coef), so the blocks are never stacked into one matrix.
        widths = [len(b.vocabulary) for b in blocks] + ([hybrid.embedding.vectors_.shape[0]] if hybrid else [])
        self._linear = linear
        self._coef_blocks = linear.split(widths) if linear is not None and len(widths) > 1 else None

    @classmethod
    def compile(cls, pipeline) -> FastPipeline | None:
        """None unless the pipeline is Pipeline([features, classifier]), the features being a TF-IDF, a
        FeatureUnion of TF-IDFs, or either of those in a TextAndEmbedding (the classifier may be
        temperature-scaled: tagifai.calibration.TemperatureScaled)."""
        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            return None
        vectorizer, clf = pipeline.steps[0][1], pipeline.steps[1][1]
        temperature = 1.0
        if type(clf) is TemperatureScaled:  # the classifier's probabilities, then the same scaling
            clf, temperature = clf.estimator, clf.temperature
        hybrid = vectorizer if type(vectorizer) is TextAndEmbedding else None
        if hybrid is not None:
            vectorizer = hybrid.tfidf
        if type(vectorizer) is FeatureUnion:
            if vectorizer.transformer_weights is not None:
                return None
            parts = [t for _, t in vectorizer.transformer_list]
        else:
            parts = [vectorizer]
        if not parts or not all(_Tfidf.supports(p) for p in parts) or not hasattr(clf, "predict_proba"):
            return None
        if hybrid is not None:
            clf = _fold_embedding(clf, hybrid)
            if clf is None:
                return None
        try:
            blocks = [_Tfidf(p) for p in parts]
        except MissingInternals as exc:
            logger.info("fast path off, scikit-learn predicts: %s", exc)
            return None
        linear = _linear(clf)
        if linear is not None:
            linear = linear.with_temperature(temperature)
        proba = linear.predict_proba if linear is not None else _scaled(_unchecked(clf.predict_proba), temperature)
        return cls(blocks, proba, hybrid, linear)

    def clear_caches(self) -> None:
        """Forget every word's n-gram ids (a hybrid's token ids are cached by its embedding, the pipeline's)."""
        for block in self.blocks:
            block.clear_cache()

    def feature_blocks(self, texts: Sequence[str]) -> list:
        """The feature matrix in column blocks: each TF-IDF's, then the token frequencies of a hybrid."""
        hybrid = self.hybrid
        tfidf_texts = texts if hybrid is None else hybrid.stemmed(texts)
        blocks = [block.transform(tfidf_texts) for block in self.blocks]
        if hybrid is not None:
            blocks.append(hybrid.embedding.token_frequencies(texts))
        return blocks

    def transform(self, texts: Sequence[str]):
        blocks = self.feature_blocks(texts)
        return blocks[0] if len(blocks) == 1 else hstack_csr(blocks)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._coef_blocks is None:
            return self._predict_proba(self.transform(texts))
        blocks = self.feature_blocks(texts)
        scores = safe_sparse_dot(blocks[0], self._coef_blocks[0], dense_output=True)
        for block, coef in zip(blocks[1:], self._coef_blocks[1:]):
            scores += safe_sparse_dot(block, coef, dense_output=True)
        return self._linear.proba(scores + self._linear.intercept)


# --- agreement with the plain pipeline ----------------------------------------------------------------------------

AGREEMENT_TOLERANCE = 1e-9  # the contract: probabilities within this of `pipeline.predict_proba`, the same tags


@dataclass(frozen=True)
class Agreement:
    """The fast path against the plain pipeline on the same texts (see `agreement`)."""

    n_texts: int
    compiled: bool  # False: the pipeline is not one the fast path knows, scikit-learn predicts anyway
    max_abs_diff: float  # largest |fast - plain| over every probability (inf if the fast path failed)
    tags_equal: bool  # the same predicted tags with the predictor's threshold
    error: str | None = None  # the fast path raised this

    @property
    def agrees(self) -> bool:
        return self.tags_equal and self.max_abs_diff <= AGREEMENT_TOLERANCE

    def metrics(self) -> dict[str, float]:
        return {"fastpath_max_abs_diff": self.max_abs_diff, "fastpath_tags_equal": float(self.tags_equal),
                "fastpath_agrees": float(self.agrees), "fastpath_n_texts": float(self.n_texts)}


def agreement(predictor, texts: Sequence[str]) -> Agreement:
    """Compare the predictor's fast path with its plain pipeline on raw `texts` (cleaned as predict cleans them):
    predicted tags (with the predictor's threshold) and probabilities. The predictor is a tagifai.predict.Predictor;
    its `use_fast_path` flag is ignored here (the compiled path is what is checked)."""
    cleaned = clean_texts(texts, lower=predictor.lower, stem=predictor.stem)
    fast = predictor.compiled_fast_pipeline()
    if fast is None:
        return Agreement(len(cleaned), compiled=False, max_abs_diff=0.0, tags_equal=True)
    plain = predictor.pipeline.predict_proba(cleaned)
    try:
        got = np.asarray(fast.predict_proba(cleaned), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure of the replay means: serve the plain pipeline
        return Agreement(len(cleaned), True, float("inf"), False, error=f"{type(exc).__name__}: {exc}")
    if got.shape != plain.shape:
        return Agreement(len(cleaned), True, float("inf"), False, error=f"shape {got.shape} != {plain.shape}")
    diff = np.abs(got - plain)
    max_abs_diff = float(diff.max()) if diff.size else 0.0
    if not np.isfinite(max_abs_diff):
        max_abs_diff = float("inf")
    classes, threshold = predictor.classes, predictor.threshold
    tags_equal = bool(np.array_equal(apply_threshold(got, classes, threshold),
                                     apply_threshold(plain, classes, threshold)))
    return Agreement(len(cleaned), True, max_abs_diff, tags_equal)
