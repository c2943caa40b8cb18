"""TF-IDF features: word n-grams, char_wb n-grams, or their union."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from tagifai.args import TrainArgs


def build_vectorizer(args: TrainArgs) -> TfidfVectorizer | FeatureUnion:
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
