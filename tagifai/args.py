"""Training arguments: one dataclass, loaded from config/args.json, overridable, validated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tagifai.errors import InvalidArgsError

CHOICES = {
    "analyzer": ("char_wb", "word", "union"),
    "classifier": ("sgd", "logreg", "svm", "nbsvm"),
    "loss": ("log_loss", "modified_huber"),
    "learning_rate": ("optimal", "constant", "adaptive"),
    "class_balance": ("oversample", "weights", "none"),
    "threshold_method": ("val", "oof"),
    "embedding": ("none", "minilm64", "minilm64_learned"),
    # "temperature": one temperature fitted on the validation split's probabilities (tagifai.calibration).
    "calibration": ("none", "temperature"),
}
# Arguments that only mean something for one classifier; the others are not logged, so no
# run ever shows a parameter that had no effect (the original logged power_t and ignored it).
CLASSIFIER_ONLY = {"loss": "sgd", "learning_rate": "sgd", "eta0": "sgd", "num_epochs": "sgd",
                   "unclaimed_to_other": ("svm", "nbsvm")}
# Arguments that only mean something when another argument has a given value (same reason).
ONLY_WHEN = {"threshold_method": ("tune_threshold", True), "min_threshold": ("tune_threshold", True),
             "embedding_scale": ("embedding", tuple(e for e in CHOICES["embedding"] if e != "none"))}
THRESHOLD_FOLDS = 3  # folds of the out-of-fold probabilities the threshold is tuned on (threshold_method=oof)


@dataclass(frozen=True)
class TrainArgs:
    seed: int = 42
    val_size: float = 0.15
    test_size: float = 0.15
    min_freq: int = 30
    lower: bool = True
    stem: bool = False
    analyzer: str = "char_wb"
    ngram_max_range: int = 5
    char_ngram_min: int = 2
    word_ngram_max: int = 2
    sublinear_tf: bool = True
    min_df: int = 1
    max_df: float = 1.0
    classifier: str = "sgd"
    loss: str = "log_loss"
    alpha: float = 1e-4
    learning_rate: str = "optimal"
    eta0: float = 0.1
    num_epochs: int = 30
    class_balance: str = "oversample"
    tune_threshold: bool = True
    threshold_method: str = "val"
    min_threshold: float = 0.0
    # Static token embeddings beside the TF-IDF features (tagifai.embeddings); "none": TF-IDF only.
    embedding: str = "none"
    embedding_scale: float = 1.0
    # svm / nbsvm: this share of the probability no one-vs-rest model claims goes to `other` (tagifai.calibrated).
    unclaimed_to_other: float = 0.0
    # Refit on train + validation once validation has done its jobs (threshold, val_f1): 18% more data to learn
    # from. val_f1 stays the score of the train-only fit, which has not seen validation.
    refit_on_val: bool = False
    # Probabilities temperature-scaled so that confidence means accuracy (tagifai.calibration); "none": as fitted.
    calibration: str = "none"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InvalidArgsError(f"{name}={getattr(self, name)!r}: must be one of {', '.join(allowed)}")
        positive = ("alpha", "eta0", "embedding_scale", "num_epochs", "min_df", "ngram_max_range", "word_ngram_max",
                    "char_ngram_min")
        for name in positive:
            if not getattr(self, name) > 0:
                raise InvalidArgsError(f"{name}={getattr(self, name)!r}: must be > 0")
        if self.ngram_max_range < self.char_ngram_min:
            raise InvalidArgsError(
                f"ngram_max_range={self.ngram_max_range}: must be >= {self.char_ngram_min} "
                f"(char n-grams start at char_ngram_min={self.char_ngram_min})"
            )
        if not 0 <= self.unclaimed_to_other <= 1:
            raise InvalidArgsError(f"unclaimed_to_other={self.unclaimed_to_other!r}: must be in [0, 1]")
        if not 0 <= self.min_threshold < 1:
            raise InvalidArgsError(f"min_threshold={self.min_threshold!r}: must be in [0, 1)")
        if not 0 < self.max_df <= 1:
            raise InvalidArgsError(f"max_df={self.max_df!r}: must be in (0, 1] (a fraction of documents)")
        if self.min_freq < 1:
            raise InvalidArgsError(f"min_freq={self.min_freq}: must be >= 1")
        if self.seed < 0:
            raise InvalidArgsError(f"seed={self.seed}: must be >= 0")
        for name in ("val_size", "test_size"):
            if not 0 < getattr(self, name) < 1:
                raise InvalidArgsError(f"{name}={getattr(self, name)!r}: must be between 0 and 1 (exclusive)")
        if self.val_size + self.test_size >= 1:
            raise InvalidArgsError(
                f"val_size + test_size = {self.val_size + self.test_size:g}: must be < 1 (nothing left to train on)"
            )

    @property
    def stem_when_cleaning(self) -> bool:
        """Stem in tagifai.preprocess (the texts the pipeline gets), unless the embedding needs the words: then
        the features stem for the TF-IDF themselves (tagifai.features.TextAndEmbedding)."""
        return self.stem and self.embedding == "none"

    def features_name(self) -> str:
        """The TF-IDF n-grams in a few characters: charwb2-5, word1-3, or word1-3+charwb2-5 for the union."""
        char, word = f"charwb{self.char_ngram_min}-{self.ngram_max_range}", f"word1-{self.word_ngram_max}"
        return {"char_wb": char, "word": word, "union": f"{word}+{char}"}[self.analyzer]

    def short_name(self) -> str:
        """What tells runs apart at a glance: classifier-features[+embedding], e.g.
        nbsvm-charwb2-5+minilm64_learned (a run's default name)."""
        name = f"{self.classifier}-{self.features_name()}"
        return name if self.embedding == "none" else f"{name}+{self.embedding}"

    def describe(self) -> str:
        """The model in one line of words, e.g. `nbsvm on char_wb 2-5 TF-IDF (stemmed) + minilm64_learned
        embedding x0.70, refitted on train+val`."""
        analyzers = {"char_wb": f"char_wb {self.char_ngram_min}-{self.ngram_max_range}",
                     "word": f"word 1-{self.word_ngram_max}",
                     "union": f"word 1-{self.word_ngram_max} + char_wb {self.char_ngram_min}-{self.ngram_max_range}"}
        text = f"{self.classifier} on {analyzers[self.analyzer]} TF-IDF" + (" (stemmed)" if self.stem else "")
        if self.embedding != "none":
            text += f" + {self.embedding} embedding x{self.embedding_scale:.2f}"
        return text + (", refitted on train+val" if self.refit_on_val else "")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainArgs:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InvalidArgsError(f"unknown argument(s): {', '.join(unknown)}; known: {', '.join(known)}")
        defaults = asdict(cls())
        typed = {k: _coerce(k, v, type(defaults[k])) for k, v in values.items()}
        return cls(**typed)

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainArgs:
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidArgsError(f"{path}: cannot read arguments: {exc}") from exc
        return cls.from_dict({**values, **(overrides or {})})

    def to_params(self) -> dict[str, Any]:
        """Every argument that has an effect with this classifier (and these settings)."""
        return {
            k: v for k, v in asdict(self).items()
            if self.classifier in _as_tuple(CLASSIFIER_ONLY.get(k, self.classifier))
            and (k not in ONLY_WHEN or getattr(self, ONLY_WHEN[k][0]) in _as_tuple(ONLY_WHEN[k][1]))
        }


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Accept JSON values and command-line strings alike ("true", "1e-4", ...)."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        if kind is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind is int:
            as_float = float(text)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        return kind(text)
    except ValueError:
        raise InvalidArgsError(f"{name}={value!r}: expected {kind.__name__}") from None


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`key=value` strings from the command line."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgsError(f"override {pair!r}: expected key=value")
        out[key.strip()] = value
    return out
