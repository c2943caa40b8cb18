"""tagifai.fastpath: the fitted pipeline applied faster, with the same numbers as scikit-learn's own calls.

Features must be bit-identical to the vectorizer's `transform`; probabilities equal to `pipeline.predict_proba`
(asserted exactly where the arithmetic is replayed, and always within 1e-9, the contract); the Predictor's
answers equal those built from the plain pipeline. Pipelines the fast path does not know fall back to sklearn.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from harness.reference import reference_answer
import tagifai.fastpath as fastpath
from tagifai.calibrated import SigmoidCalibratedLinear
from tagifai.nbsvm import NBSVMClassifier
from tagifai import config
from tagifai.args import TrainArgs
from tagifai.data import load_projects
from tagifai.features import TextAndEmbedding, build_tfidf, build_vectorizer
from tagifai.fastpath import FastPipeline
from tagifai.predict import Predictor
from tagifai.preprocess import _stem, apply_mapping, clean_texts, label_mapping

TOLERANCE = 1e-9
FLOAT32_TOLERANCE = 1e-6
# With static embeddings the fast path folds the classifier onto tokens: the same sums in another order.
HYBRID_TOLERANCE = 1e-11
ODD_TEXTS = [
    "the and of",  # nothing left after cleaning
    "zzzzqqq xxyyzz",  # nothing in the vocabulary
    "A", "ab", "x" * 3000,  # shorter than the n-grams, and very long
    "Café naïve résumé — 中文 text ✓",  # non-ASCII
    "tabs\tand\nnewlines   and  spaces\u2003em-space",
    "pytorch pytorch pytorch pytorch transformers",  # repeated words
]


@pytest.fixture(scope="module")
def projects():
    df, _ = load_projects(config.DATA_PATH)
    mapping = label_mapping(df["tag"].tolist(), min_freq=30)
    texts = clean_texts(df["text"].tolist())
    labels = apply_mapping(df["tag"], mapping).to_numpy()
    return texts, labels, df["text"].tolist()


def fitted(vectorizer, clf, projects, n: int = 400) -> Pipeline:
    texts, labels, _ = projects
    return Pipeline([("tfidf", vectorizer), ("clf", clf)]).fit(texts[:n], labels[:n])


def inputs(projects) -> list[list[str]]:
    texts, _, raw = projects
    odd = clean_texts(ODD_TEXTS) + ODD_TEXTS  # cleaned, and raw (the fast path does not rely on cleaning)
    return [texts[:1], texts[400:401], texts[3:10], texts[100:300], texts, odd, raw[:50]]


def assert_same_features(pipeline: Pipeline, fast: FastPipeline, texts: list[str]) -> None:
    expected, got = pipeline.steps[0][1].transform(texts), fast.transform(texts)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data, expected.data)


UNION = TrainArgs(analyzer="union")
VECTORIZERS = {
    "shipped TF-IDF": lambda: build_tfidf(TrainArgs.from_file(config.ARGS_PATH)),
    "shipped": lambda: build_vectorizer(TrainArgs.from_file(config.ARGS_PATH)),
    "char_wb": lambda: build_vectorizer(replace(UNION, analyzer="char_wb")),
    "word": lambda: build_vectorizer(replace(UNION, analyzer="word")),
    "char_wb 3-6, min_df 2, max_df 0.5": lambda: build_vectorizer(
        replace(UNION, analyzer="char_wb", char_ngram_min=3, ngram_max_range=6, min_df=2, max_df=0.5)),
    "char, l1, binary, no idf": lambda: TfidfVectorizer(analyzer="char", ngram_range=(1, 3), norm="l1",
                                                          binary=True, use_idf=False),
    "word, linear tf, no norm, float64": lambda: TfidfVectorizer(sublinear_tf=False, norm=None, dtype=np.float64),
    "word, lowercase, stop words": lambda: TfidfVectorizer(lowercase=True, stop_words=["the", "for"],
                                                           ngram_range=(1, 3)),
    "union + embedding, stemmed": lambda: build_vectorizer(
        replace(UNION, stem=True, embedding="minilm64", embedding_scale=0.75)),
    "char_wb + learned embedding": lambda: build_vectorizer(
        replace(UNION, analyzer="char_wb", embedding="minilm64_learned")),
}
CLASSIFIERS = {
    "sgd log_loss": lambda: SGDClassifier(loss="log_loss", alpha=3e-5, random_state=0),
    "sgd modified_huber": lambda: SGDClassifier(loss="modified_huber", random_state=0),
    "logreg": lambda: LogisticRegression(C=10, max_iter=500),
    "calibrated svm": lambda: CalibratedClassifierCV(LinearSVC(), cv=3, ensemble=False),
}


# Features differ by design where an embedding is folded onto tokens (_fold_embedding): compared by probability.
HYBRIDS = {"union + embedding, stemmed", "char_wb + learned embedding", "shipped"}


@pytest.mark.parametrize("vec_name", [name for name in VECTORIZERS if name not in HYBRIDS])
def test_features_are_bit_identical(projects, vec_name):
    pipeline = fitted(VECTORIZERS[vec_name](), SGDClassifier(loss="log_loss", random_state=0), projects)
    fast = FastPipeline.compile(pipeline)
    assert fast is not None
    for texts in inputs(projects):
        assert_same_features(pipeline, fast, texts)


@pytest.mark.parametrize("clf_name", list(CLASSIFIERS))
@pytest.mark.parametrize("vec_name", ["shipped", "shipped TF-IDF", "char_wb", "word", "union + embedding, stemmed"])
def test_probabilities_equal_the_pipelines(projects, vec_name, clf_name):
    pipeline = fitted(VECTORIZERS[vec_name](), CLASSIFIERS[clf_name](), projects)
    fast = FastPipeline.compile(pipeline)
    hybrid = isinstance(pipeline.steps[0][1], TextAndEmbedding)
    if hybrid and clf_name == "calibrated svm":
        assert fast is None  # only linear models it knows are folded onto tokens; scikit-learn predicts
        return
    assert fast is not None
    for texts in inputs(projects):
        expected, got = pipeline.predict_proba(texts), fast.predict_proba(texts)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= (HYBRID_TOLERANCE if hybrid else TOLERANCE)
        if clf_name != "calibrated svm" and not hybrid:  # replayed arithmetic: the very same numbers
            assert np.array_equal(got, expected)


def test_embedding_folded_into_the_compact_calibrated_nbsvm(projects):
    """What training ships with an embedding: NB-SVM with dense columns, calibrated, in its compact form."""
    texts, labels, raw = projects
    vectorizer = build_vectorizer(replace(UNION, stem=True, embedding="minilm64", embedding_scale=0.75))
    X = vectorizer.fit_transform(texts[:400])
    calibrated = CalibratedClassifierCV(NBSVMClassifier(C=1.0, n_dense=vectorizer.n_dense_), method="sigmoid",
                                        cv=3, ensemble=False).fit(X, labels[:400])
    compact = SigmoidCalibratedLinear.from_calibrated(calibrated, unclaimed_to="other", unclaimed_share=0.5)
    pipeline = Pipeline([("tfidf", vectorizer), ("clf", compact)])
    fast = FastPipeline.compile(pipeline)
    assert fast is not None and fast.hybrid is vectorizer
    assert fast._coef_blocks is not None  # scored block by block: the path the shipped model takes
    for batch in inputs(projects):
        assert np.abs(fast.predict_proba(batch) - pipeline.predict_proba(batch)).max() <= HYBRID_TOLERANCE


def test_binary_problems_too(projects):
    texts, labels, _ = projects
    binary = np.where(labels == "natural-language-processing", "nlp", "rest")
    for clf in (SGDClassifier(loss="log_loss", random_state=0), LogisticRegression(max_iter=500)):
        pipeline = Pipeline([("tfidf", build_vectorizer(UNION)), ("clf", clf)]).fit(texts[:400], binary[:400])
        fast = FastPipeline.compile(pipeline)
        for batch in (texts[:1], texts[400:]):
            # Two blocks (word, char_wb): their score products are summed, not stacked, in float32 here (SGD keeps
            # the features' dtype): the same sums in another order, so float32 rounding.
            assert np.abs(fast.predict_proba(batch) - pipeline.predict_proba(batch)).max() <= FLOAT32_TOLERANCE


@pytest.mark.parametrize("make", [
    lambda: Pipeline([("count", CountVectorizer()), ("clf", SGDClassifier(loss="log_loss"))]),
    lambda: Pipeline([("tfidf", FeatureUnion([("w", TfidfVectorizer()), ("c", TfidfVectorizer(analyzer="char_wb"))],
                                              transformer_weights={"w": 2.0, "c": 1.0})),
                      ("clf", SGDClassifier(loss="log_loss"))]),
    lambda: Pipeline([("id", FunctionTransformer()), ("tfidf", TfidfVectorizer()),
                      ("clf", SGDClassifier(loss="log_loss"))]),
    lambda: Pipeline([("tfidf", TfidfVectorizer(analyzer=str.split)), ("clf", SGDClassifier(loss="log_loss"))]),
    lambda: Pipeline([("tfidf", TfidfVectorizer()), ("clf", SGDClassifier(loss="hinge"))]),  # no predict_proba
])
def test_unknown_pipelines_are_left_to_sklearn(projects, make):
    pipeline = make()
    if not isinstance(pipeline.steps[0][1], FunctionTransformer):
        texts, labels, _ = projects
        pipeline.fit(texts[:200], labels[:200])
    assert FastPipeline.compile(pipeline) is None


def test_word_cache_stays_bounded_and_correct(projects):
    pipeline = fitted(VECTORIZERS["char_wb"](), SGDClassifier(loss="log_loss", random_state=0), projects)
    fast = FastPipeline.compile(pipeline)
    fast.blocks[0]._words.limit = 50
    texts = projects[0]
    for start in range(0, 300, 60):
        batch = texts[start:start + 60]
        assert np.array_equal(fast.predict_proba(batch), pipeline.predict_proba(batch))
        assert len(fast.blocks[0]._words) <= 50


# --- the Predictor ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor(projects) -> Predictor:
    args = TrainArgs.from_file(config.ARGS_PATH)
    pipeline = fitted(build_vectorizer(args), SGDClassifier(loss="log_loss", alpha=args.alpha, random_state=0),
                      projects, n=600)
    return Predictor(pipeline, threshold=0.4)


@pytest.mark.parametrize("threshold", [None, 0.0, 0.9])
def test_predictor_answers_as_the_plain_pipeline(predictor, projects, threshold):
    raw = projects[2]
    for texts in (raw[:1], raw[:10], raw, ODD_TEXTS):
        want = reference_answer(predictor, texts, threshold)
        out = predictor.predict(texts, threshold)
        assert out["input_text"] == texts
        assert out["predicted_tag"] == want["tags"]
        assert np.abs(np.array(out["confidence"]) - np.array(want["confidence"])).max() <= TOLERANCE
        got = np.array([[row[name] for name in want["names"]] for row in out["probabilities"]])
        assert np.abs(got - want["proba"]).max() <= TOLERANCE
        assert list(out["probabilities"][0]) == want["names"]


def test_records_are_the_rows_of_predict(predictor, projects):
    texts = projects[2][:25]
    columns = predictor.predict(texts, 0.5)
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    assert predictor.predict_records(texts, 0.5) == rows


def test_records_validate_like_predict(predictor):
    with pytest.raises(ValueError, match="row 1: field 'text' is empty"):
        predictor.predict_records(["fine", "  "])
    with pytest.raises(ValueError, match="threshold"):
        predictor.predict_records(["fine"], threshold=2)


def test_compiled_path_is_not_pickled_and_follows_the_pipeline(predictor, projects):
    texts = projects[2][:5]
    predictor.predict(texts)
    assert "_fast" in predictor.__dict__
    clone = pickle.loads(pickle.dumps(predictor))
    assert "_fast" not in clone.__dict__
    assert clone.predict(texts) == predictor.predict(texts)
    # A replaced pipeline is compiled again, not served from the old one.
    other = replace(predictor, pipeline=fitted(VECTORIZERS["word"](), SGDClassifier(loss="log_loss", random_state=1),
                                               projects))
    other.__dict__["_fast"] = predictor.__dict__["_fast"]
    assert np.array_equal(other.predict_proba(texts), other.pipeline.predict_proba(clean_texts(texts)))


def test_unknown_pipeline_still_predicts(projects):
    texts, labels, raw = projects
    pipeline = Pipeline([("count", CountVectorizer()), ("clf", SGDClassifier(loss="log_loss", random_state=0))])
    plain = Predictor(pipeline.fit(texts[:300], labels[:300]), threshold=0.0)
    assert plain._fast_pipeline() is None
    assert np.array_equal(plain.predict_proba(raw[:20]), pipeline.predict_proba(clean_texts(raw[:20])))


def test_embedding_model_stems_in_its_features_not_when_cleaning(projects):
    """The embedding reads words, so cleaning keeps them; the TF-IDF block stems them itself (and the served
    model still needs nltk for that)."""
    _, _, raw = projects
    args = replace(UNION, stem=True, embedding="minilm64")
    pipeline = fitted(build_vectorizer(args), SGDClassifier(loss="log_loss", random_state=0), projects)
    predictor = Predictor(pipeline, 0.0, lower=True, stem=args.stem_when_cleaning)
    assert predictor.stems and not predictor.stem
    assert FastPipeline.compile(pipeline) is not None
    expected = pipeline.predict_proba(clean_texts(raw[:50]))
    assert np.abs(predictor.predict_proba(raw[:50]) - expected).max() <= HYBRID_TOLERANCE
    from mlflow_model.packaging import requirements

    assert any(r.startswith("nltk==") for r in requirements(predictor))


def test_clear_caches_forgets_every_word_and_changes_no_prediction(projects):
    """What benchmarks/bench_model.py times as "cold": the same answers with nothing remembered."""
    _, _, raw = projects
    args = replace(UNION, stem=True, embedding="minilm64")
    predictor = Predictor(fitted(build_vectorizer(args), SGDClassifier(loss="log_loss", random_state=0), projects),
                          0.0, lower=True, stem=args.stem_when_cleaning)
    warm = predictor.predict_proba(raw[:50])
    fast = predictor._fast_pipeline()
    char_block = next(b for b in fast.blocks if b._char_wb)
    assert char_block._words and "_cache" in fast.hybrid.embedding.__dict__ and _stem.cache_info().currsize

    predictor.clear_caches()

    assert not char_block._words and "_cache" not in fast.hybrid.embedding.__dict__
    assert _stem.cache_info().currsize == 0
    assert np.array_equal(predictor.predict_proba(raw[:50]), warm)


@pytest.mark.parametrize("shapes", [[(3, 4), (3, 2)], [(1, 5), (1, 1), (1, 3)], [(4, 3), (4, 3)], [(0, 2), (0, 3)]])
def test_hstack_csr_equals_scipys(shapes):
    import scipy.sparse as sp

    rng = np.random.default_rng(len(shapes))
    blocks = [sp.random_array(shape, density=0.5, format="csr", rng=rng, dtype=dtype).astype(dtype)
              for shape, dtype in zip(shapes, [np.float32, np.float64, np.float32])]
    if shapes[0][0] == 4:
        blocks[0] = sp.csr_array(blocks[0].shape, dtype=np.float32)  # a block with no entries at all
    expected, got = sp.hstack(blocks, format="csr"), fastpath.hstack_csr(blocks)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert np.array_equal(got.toarray(), expected.toarray())
    assert np.array_equal(got.indptr, expected.indptr) and np.array_equal(got.indices, expected.indices)
