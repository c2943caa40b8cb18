"""Behavioural tests of a tagging model (Ribeiro et al., "Beyond Accuracy", 2020): runnable against any model.

Three kinds, each a list of cases written from what a person expects, not from the data:
- invariance: texts that differ only by a synonym (or a name) must get the same tag;
- directional: changing the topic phrase must move the tag to the expected one (and the other text to its own);
- minimum functionality: obvious cases of each tag get that tag.
A few cases are KNOWN_LIMITATIONS: they run and are reported everywhere (a pass too), but do not block
promotion; each keeps the evidence that the training data barely covers it. A weakness the data does cover
(e.g. "machine translation" read as mlops) stays a gating case.
A model is given as a function `texts -> predicted tags`; `for_model_uri` makes one from any MLflow model URI,
`for_predictor` from an in-memory `tagifai.predict.Predictor` (used at training time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from tagifai.config import OTHER_TAG

NLP, CV, MLOPS = "natural-language-processing", "computer-vision", "mlops"

PredictFn = Callable[[list[str]], list[str]]

KINDS = ("invariance", "directional", "minimum_functionality")

# Each group: the texts must all get the same tag (which tag is not the point: consistency is).
INVARIANCE: list[tuple[str, ...]] = [
    ("Attention-based transformers changed how we build language models.",
     "Attention-based transformers reshaped how we build language models.",
     "Attention-based transformers transformed how we build language models."),
    ("A convolutional network that detects pedestrians in street images.",
     "A convolutional network that finds pedestrians in street images.",
     "A convolutional network that spots pedestrians in street images."),
    ("Deploying models to production with Docker and Kubernetes made easy.",
     "Deploying models to production with Docker and Kubernetes made simple.",
     "Deploying models to production with Docker and Kubernetes made painless."),
    ("Fine-tuning BERT for sentiment analysis of movie reviews.",
     "Fine-tuning BERT for sentiment analysis of film reviews."),
    ("Monitoring data drift of deployed machine learning models in real time.",
     "Tracking data drift of deployed machine learning models in real time.",
     "Watching data drift of deployed machine learning models in real time."),
    ("Real-time object detection on a webcam with YOLO.",
     "Real-time object detection on a camera with YOLO."),
    ("A quick tutorial on named entity recognition with spaCy.",
     "A short tutorial on named entity recognition with spaCy.",
     "A brief tutorial on named entity recognition with spaCy."),
    ("Image super-resolution with generative adversarial networks, explained step by step.",
     "Image super-resolution with generative adversarial networks, described step by step."),
    ("Maria built a chatbot that answers questions about cooking recipes.",
     "Tom built a chatbot that answers questions about cooking recipes.",
     "Priya built a chatbot that answers questions about cooking recipes."),
    ("Alice trained a model to segment tumours in medical scans.",
     "Kenji trained a model to segment tumours in medical scans."),
    ("An open-source feature store for reproducible machine learning pipelines.",
     "An open-source feature store for repeatable machine learning pipelines."),
    ("A large collection of pretrained models for machine translation.",
     "A huge collection of pretrained models for machine translation.",
     "A big collection of pretrained models for machine translation."),
]

# (text, expected tag, text with the topic phrase changed, its expected tag).
DIRECTIONAL: list[tuple[str, str, str, str]] = [
    ("A simple baseline for sentence classification.", NLP,
     "A simple baseline for image segmentation.", CV),
    ("Data augmentation techniques for text classification.", NLP,
     "Data augmentation techniques for image classification.", CV),
    ("Self-supervised pretraining for machine translation.", NLP,
     "Self-supervised pretraining for object detection.", CV),
    ("A PyTorch tutorial on question answering.", NLP,
     "A PyTorch tutorial on pose estimation.", CV),
    ("Attention models for abstractive text summarization.", NLP,
     "Attention models for video action recognition.", CV),
    ("Face recognition with convolutional neural networks.", CV,
     "Model serving and monitoring with Kubernetes.", MLOPS),
    ("Visualizing what a language model learns about grammar.", NLP,
     "Visualizing what a convolutional network learns about images.", CV),
    ("An agent that learns to play Atari games with deep reinforcement learning.", OTHER_TAG,
     "A model that learns to caption images with deep learning.", CV),
    # Thinly covered by the training data ('contrastive' occurs in 2 training projects, both computer vision;
    # 'sentence embedding' in 1; 'named entity' in 1, 'recognition' in 11, 10 of them computer vision). TF-IDF
    # models fail them; the static embeddings (tagifai.embeddings) carry what the words mean.
    ("Contrastive learning of sentence embeddings.", NLP,
     "Contrastive learning of image embeddings.", CV),
    ("A guide to named entity recognition in Python.", NLP,
     "A guide to model deployment and monitoring in Python.", MLOPS),
]

# Directional cases that run and are reported but do not gate, each with the evidence that the training data
# barely covers it (the mechanism stays for the next such case; none is needed today: a case is only moved here
# with a reason that holds up in docs/model.md).
KNOWN_LIMITATIONS: list[tuple[tuple[str, str, str, str], str]] = []

# (text, expected tag): obvious cases of every tag, and text that is not about machine learning at all.
MINIMUM_FUNCTIONALITY: list[tuple[str, str]] = [
    ("Fine-tuning BERT for named entity recognition.", NLP),
    ("Sentiment analysis of tweets with a transformer language model.", NLP),
    ("A chatbot for customer support built with GPT-2.", NLP),
    ("Neural machine translation from English to German.", NLP),
    ("Object detection with YOLO on street camera images.", CV),
    ("Semantic segmentation of satellite images with U-Net.", CV),
    ("Face recognition with convolutional neural networks.", CV),
    ("Generative adversarial networks for image generation.", CV),
    ("Deploy machine learning models with Docker, Kubernetes and a REST API.", MLOPS),
    ("Experiment tracking and a model registry with MLflow.", MLOPS),
    ("Monitoring data drift of machine learning models in production.", MLOPS),
    ("Deep reinforcement learning agent that learns to play Atari games.", OTHER_TAG),
    ("Graph neural networks for node classification on citation graphs.", OTHER_TAG),
    ("Our team orders pizza every Friday.", OTHER_TAG),
]


@dataclass(frozen=True)
class CaseResult:
    kind: str
    name: str
    passed: bool
    texts: tuple[str, ...]
    expected: tuple[str, ...]  # for invariance: empty (any tag, as long as they agree)
    predicted: tuple[str, ...]
    gating: bool = True  # False: a known limitation, reported but never a reason to refuse a model
    reason: str = ""  # why a known limitation is one

    def describe(self) -> str:
        got = ", ".join(f"{t!r} -> {p}" for t, p in zip(self.texts, self.predicted))
        want = f"expected {', '.join(self.expected)}; " if self.expected else "expected one tag for all; "
        return f"{self.kind} {self.name}: {want}got {got}"


@dataclass(frozen=True)
class BehaviourReport:
    results: tuple[CaseResult, ...]

    @property
    def failures(self) -> list[CaseResult]:
        """Failed gating cases (known limitations are not failures of the model's gate)."""
        return [r for r in self.results if r.gating and not r.passed]

    @property
    def limitations(self) -> list[CaseResult]:
        return [r for r in self.results if not r.gating]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, dict[str, int]]:
        """kind -> {"passed": n, "total": m} over gating cases; "known_limitations" over the others."""
        out = {kind: {"passed": 0, "total": 0} for kind in (*KINDS, "known_limitations")}
        for r in self.results:
            key = r.kind if r.gating else "known_limitations"
            out[key]["total"] += 1
            out[key]["passed"] += int(r.passed)
        return out

    def metrics(self) -> dict[str, float]:
        """behaviour/<kind>/pass_rate and behaviour/pass_rate, for MLflow."""
        summary = self.summary()
        metrics = {f"behaviour/{k}/pass_rate": v["passed"] / v["total"] for k, v in summary.items() if v["total"]}
        gating = [r for r in self.results if r.gating]
        metrics["behaviour/pass_rate"] = sum(r.passed for r in gating) / max(len(gating), 1)
        return metrics

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict) -> BehaviourReport:
        return cls(tuple(CaseResult(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
                         for r in data["results"]))


def run_behaviour(
    predict: PredictFn,
    invariance: Sequence[tuple[str, ...]] = INVARIANCE,
    directional: Sequence[tuple[str, str, str, str]] = DIRECTIONAL,
    minimum_functionality: Sequence[tuple[str, str]] = MINIMUM_FUNCTIONALITY,
    known_limitations: Sequence[tuple[tuple[str, str, str, str], str]] = KNOWN_LIMITATIONS,
) -> BehaviourReport:
    """Every case of every kind, predicted in one batch."""
    texts = sorted({t for group in invariance for t in group}
                   | {t for a, _, b, _ in directional for t in (a, b)}
                   | {t for (a, _, b, _), _ in known_limitations for t in (a, b)}
                   | {t for t, _ in minimum_functionality})
    tags = dict(zip(texts, predict(list(texts))))
    results = []
    for i, group in enumerate(invariance):
        got = tuple(tags[t] for t in group)
        results.append(CaseResult("invariance", f"I{i + 1}", len(set(got)) == 1, tuple(group), (), got))
    for i, (a, tag_a, b, tag_b) in enumerate(directional):
        got = (tags[a], tags[b])
        results.append(CaseResult("directional", f"D{i + 1}", got == (tag_a, tag_b), (a, b), (tag_a, tag_b), got))
    for i, (text, tag) in enumerate(minimum_functionality):
        results.append(CaseResult("minimum_functionality", f"M{i + 1}", tags[text] == tag, (text,), (tag,),
                                  (tags[text],)))
    for i, ((a, tag_a, b, tag_b), reason) in enumerate(known_limitations):
        got = (tags[a], tags[b])
        results.append(CaseResult("directional", f"L{i + 1}", got == (tag_a, tag_b), (a, b), (tag_a, tag_b), got,
                                  gating=False, reason=reason))
    return BehaviourReport(tuple(results))


def for_predictor(predictor) -> PredictFn:
    """A `tagifai.predict.Predictor` with its own (tuned) threshold, as the served model uses it."""
    return lambda texts: predictor.predict(texts)["predicted_tag"]


def for_model_uri(model_uri: str) -> PredictFn:
    """Any MLflow pyfunc model that takes a `text` column and returns `predicted_tag` (models:/, runs:/, paths)."""
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(model_uri)

    def predict(texts: list[str]) -> list[str]:
        out = model.predict(pd.DataFrame({"text": texts}))
        return list(out["predicted_tag"] if isinstance(out, pd.DataFrame) else out)

    return predict
