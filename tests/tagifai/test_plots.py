"""The reference profile's picture (logged with every training run as reference_profile.png)."""

from __future__ import annotations

import io

from tagifai.plots import reference_profile_figure
from tagifai.profile import TextStats, build_profile

CLASSES = ["computer-vision", "natural-language-processing", "other"]


def profile(oov: float | None) -> dict:
    stats = [TextStats(chars=40 + i, words=5 + i % 7, oov_share=None if oov is None else oov * (i % 3))
             for i in range(30)]
    return build_profile([CLASSES[i % 3] for i in range(30)], [0.5 + i / 60 for i in range(30)], stats, CLASSES,
                         source="out-of-fold cross-validation predictions")


def panel_titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.axison]


def test_the_picture_shows_tags_confidence_length_and_oov_share():
    fig = reference_profile_figure(profile(oov=0.2))
    assert panel_titles(fig) == ["Predicted tags", "Confidence", "Text length", "Out-of-vocabulary share"]
    out = io.BytesIO()
    fig.savefig(out, format="png")
    assert out.getvalue().startswith(b"\x89PNG")


def test_a_model_without_a_vocabulary_says_so_instead_of_an_empty_histogram():
    fig = reference_profile_figure(profile(oov=None))
    assert panel_titles(fig) == ["Predicted tags", "Confidence", "Text length"]
    assert any("no word vocabulary" in text.get_text() for ax in fig.axes for text in ax.texts)
