"""Text cleaning and label mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from tagifai.config import ACCEPTED_TAGS, OTHER_TAG
from tagifai.preprocess import apply_mapping, clean_text, clean_texts, label_mapping

NLP, CV, MLOPS = ACCEPTED_TAGS

# --- clean_text ---------------------------------------------------------------------------------


def test_lowercases():
    assert clean_text("Transformers GAN") == "transformers gan"


def test_removes_stopwords():
    assert clean_text("the model is on the table and it works") == "model table works"


def test_removes_stopwords_written_in_capitals_after_lowering():
    assert clean_text("The Model IS Great") == "model great"


def test_strips_punctuation():
    assert clean_text("hello, world! (yes) -- 3.14; foo/bar") == "hello world yes 3 14 foo bar"


def test_removes_urls():
    text = "code https://github.com/user/repo?x=1 demo http://example.org paper www.arxiv.org/abs/1 end"
    assert clean_text(text) == "code demo paper end"


def test_collapses_whitespace():
    assert clean_text("  deep \t\t learning \n\n models   ") == "deep learning models"


def test_lower_false_keeps_case():
    assert clean_text("Transfer Learning with BERT", lower=False) == "Transfer Learning BERT"


def test_stem():
    assert clean_text("learning models running", stem=True) == "learn model run"
    assert clean_text("learning") == "learning"  # no stemming by default


def test_stem_keeps_case_when_not_lowering():
    assert clean_text("Learning Models", lower=False, stem=True) == "Learn Model"


def test_only_stopwords_and_punctuation_gives_empty_text():
    assert clean_text("The... and, of!") == ""


@pytest.mark.parametrize("lower, stem", [(True, False), (False, False), (True, True)])
def test_clean_texts_is_clean_text_per_element(lower, stem):
    texts = ["The Transformers ARE great!", "see https://x.y/z now", "  Running   GANs  ", "learning"]
    assert clean_texts(texts, lower=lower, stem=stem) == [clean_text(t, lower=lower, stem=stem) for t in texts]


def test_clean_texts_accepts_a_series():
    series = pd.Series(["Hello, World", "The CNN"])
    assert clean_texts(series) == ["hello world", "cnn"]


# --- label mapping ------------------------------------------------------------------------------


def test_frequent_accepted_tags_are_kept():
    tags = [NLP] * 3 + [CV] * 3 + [MLOPS] * 3
    assert label_mapping(tags, min_freq=3) == {NLP: NLP, CV: CV, MLOPS: MLOPS}


def test_rare_accepted_tag_becomes_other():
    tags = [NLP] * 3 + [CV] * 3 + [MLOPS] * 2
    mapping = label_mapping(tags, min_freq=3)
    assert mapping[MLOPS] == OTHER_TAG
    assert mapping[NLP] == NLP and mapping[CV] == CV


def test_unaccepted_tags_become_other_however_frequent():
    tags = [NLP] * 3 + ["reinforcement-learning"] * 50 + ["time-series"]
    mapping = label_mapping(tags, min_freq=3)
    assert mapping == {NLP: NLP, "reinforcement-learning": OTHER_TAG, "time-series": OTHER_TAG}


def test_shipped_data_has_four_labels():
    from tagifai import config
    from tagifai.data import load_projects

    df, _ = load_projects(config.DATA_PATH)
    mapping = label_mapping(df["tag"].tolist(), min_freq=30)
    assert sorted(set(mapping.values())) == sorted([*ACCEPTED_TAGS, OTHER_TAG])
    assert mapping["graph-learning"] == OTHER_TAG
    # mlops has 63 projects: kept at min_freq=30, folded into other at min_freq=100
    assert label_mapping(df["tag"].tolist(), min_freq=100)[MLOPS] == OTHER_TAG


def test_apply_mapping_maps_unseen_tag_to_other():
    mapping = {NLP: NLP, "time-series": OTHER_TAG}
    labels = apply_mapping(pd.Series([NLP, "time-series", "never-seen-before"]), mapping)
    assert labels.tolist() == [NLP, OTHER_TAG, OTHER_TAG]
