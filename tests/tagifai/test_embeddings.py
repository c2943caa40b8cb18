"""tagifai.embeddings: BERT's WordPiece and mean-pooled static token embeddings from the committed table."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from tagifai.embeddings import EMBEDDINGS_DIR, TABLES, StaticEmbedding, WordCache, WordPiece, load_table


@pytest.fixture(scope="module")
def wordpiece() -> WordPiece:
    return WordPiece(list(load_table("minilm64")[0]))


def tokens(wordpiece: WordPiece, word: str) -> list[str]:
    vocab = list(wordpiece.ids)
    return [vocab[i] for i in wordpiece.tokenize(word)]


def test_committed_files_match_their_manifest():
    manifest = json.loads((EMBEDDINGS_DIR / "manifest.json").read_text())
    assert set(manifest["files"]) == {"vocab.txt", *TABLES.values()}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((EMBEDDINGS_DIR / name).read_bytes()).hexdigest() == digest, name
    for table in TABLES:
        vocab, matrix = load_table(table)
        assert matrix.shape == (manifest["shape"][0], manifest["pca_dimensions"]) == (len(vocab), 64)
        assert np.isfinite(matrix).all()


def test_wordpiece_splits_like_bert(wordpiece):
    # Longest prefix first, then "##" continuations. Expected values from Hugging Face `tokenizers` with the
    # model's tokenizer.json (which agreed with WordPiece on all 3,157 distinct words of the dataset).
    assert tokens(wordpiece, "unaffable") == ["una", "##ffa", "##ble"]
    assert tokens(wordpiece, "embeddings") == ["em", "##bed", "##ding", "##s"]
    assert tokens(wordpiece, "language") == ["language"]


def test_wordpiece_unknown_and_overlong_words_are_one_unknown_token(wordpiece):
    assert wordpiece.tokenize("x" * 101) == [wordpiece.unknown]
    assert tokens(wordpiece, "\u2603") == ["[UNK]"]  # not in the vocabulary, no piece of it either


def test_document_vector_is_the_scaled_mean_of_its_tokens(wordpiece):
    embedding = StaticEmbedding(scale=0.5).fit(["sentence classification", "image segmentation pixels"])
    _, matrix = load_table("minilm64")
    ids = wordpiece.tokenize("sentence") + wordpiece.tokenize("classification")
    expected = matrix[ids].astype(np.float64).mean(axis=0) * 0.5 / embedding.norm_
    np.testing.assert_allclose(embedding.transform(["sentence classification"])[0], expected, rtol=1e-12)


def test_training_documents_have_mean_norm_scale():
    texts = ["contrastive learning sentence embeddings", "object detection camera", "deploy kubernetes cluster"]
    embedding = StaticEmbedding(scale=2.0).fit(texts)
    assert np.linalg.norm(embedding.transform(texts), axis=1).mean() == pytest.approx(2.0)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_empty_text_is_a_zero_vector_and_related_texts_are_closer(table):
    embedding = StaticEmbedding(table).fit(["a b"])
    empty, nlp_a, nlp_b, cv = embedding.transform(["", "sentence embeddings", "text classification",
                                                   "image segmentation"])
    assert not empty.any()

    def cosine(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    assert cosine(nlp_a, nlp_b) > cosine(nlp_a, cv)


def test_pickle_drops_the_word_cache_and_keeps_the_numbers():
    embedding = StaticEmbedding().fit(["natural language processing"])
    before = embedding.transform(["language models"])
    assert "_cache" in embedding.__dict__
    restored = pickle.loads(pickle.dumps(embedding))
    assert "_cache" not in restored.__dict__
    np.testing.assert_array_equal(restored.transform(["language models"]), before)


def test_unknown_table_is_refused():
    with pytest.raises(ValueError, match="must be one of minilm64, minilm64_learned"):
        load_table("word2vec")


def test_word_cache_starts_again_when_full():
    cache = WordCache(limit=2)
    assert cache.store("a", 1) == 1 and cache.store("b", 2) == 2
    cache.store("c", 3)
    assert cache == {"c": 3}
