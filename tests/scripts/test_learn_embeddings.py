"""scripts/learn_embeddings.py: the corpus filter and the fit of token vectors (the teacher itself needs torch,
which the project does not install; its output is checked by tests/tagifai/test_embeddings.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from learn_embeddings import chunks, docstring_paragraphs, fit_token_vectors, is_prose  # noqa: E402


def shares_of(rng: np.random.Generator, texts: int, tokens: int, used: int) -> sp.csc_matrix:
    counts = np.zeros((texts, tokens))
    for row in counts:
        row[rng.choice(used, size=5)] += 1  # only the first `used` tokens ever occur
    return sp.csc_matrix(counts / counts.sum(axis=1, keepdims=True))


def test_fit_recovers_the_vectors_whose_mean_gives_the_targets_and_keeps_the_prior_elsewhere():
    rng = np.random.default_rng(0)
    truth, prior = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    shares = shares_of(rng, texts=400, tokens=12, used=8)
    learned = fit_token_vectors(shares, shares @ truth, prior, ridge=1e-6)
    np.testing.assert_allclose(learned[:8], truth[:8], atol=1e-3)
    np.testing.assert_array_equal(learned[8:], prior[8:])  # never seen in the corpus: unchanged


def test_a_large_ridge_stays_at_the_prior():
    rng = np.random.default_rng(1)
    truth, prior = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    shares = shares_of(rng, texts=50, tokens=6, used=6)
    learned = fit_token_vectors(shares, shares @ truth, prior, ridge=1e6)
    np.testing.assert_allclose(learned, prior, atol=1e-4)


def test_the_corpus_keeps_prose_and_drops_code_and_argument_lists():
    source = '''
def f(x):
    """Detect objects in images with a convolutional network trained on street scenes.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features)
        The input images.
    """
'''
    (paragraph,) = docstring_paragraphs(source)
    assert "Parameters" not in paragraph
    (chunk,) = chunks(paragraph)
    assert is_prose(chunk)
    assert not is_prose("x = np.zeros((3, 4)) + model.fit(X, y) for i in range(10) if y[i] else None")
    assert not is_prose("Too short.")
