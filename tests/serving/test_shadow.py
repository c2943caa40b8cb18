"""Shadow scoring in-process: what is compared, and a challenger that fails or falls behind is counted, never
felt by the champion's answer."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import REGISTRY

from harness.ports import returns_within, wait_for
from serving.served import ModelIdentity, ServedVersion
from serving.shadow import Shadow, compare


def row(tag: str, **probabilities) -> dict:
    return {"predicted_tag": tag, "probabilities": probabilities}


def test_agreement_and_the_champions_top_probability_difference():
    champion = [row("mlops", mlops=0.9, other=0.1), row("other", mlops=0.3, other=0.7)]
    challenger = [row("mlops", mlops=0.6, other=0.4), row("mlops", mlops=0.8, other=0.2)]
    agreed, difference = compare(champion, challenger)
    assert agreed == 1 and abs(difference - (0.3 + 0.5)) < 1e-9


def challenger(predict, version: str) -> ServedVersion:
    return ServedVersion(ModelIdentity("shadow-test", version), SimpleNamespace(predict=predict), role="challenger")


def sample(name: str, version: str) -> float:
    labels = {"model_name": "shadow-test", "model_version": version, "role": "challenger"}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_full_queue_drops_and_counts_without_waiting():
    shadow = Shadow("shadow-test-drops", max_queue=1)  # not started: nothing takes from the queue
    version = challenger(lambda texts, params: [], "1")

    def three_submits():  # a submit that waited for room would never return: no thread takes from the queue
        for _ in range(3):
            shadow.submit(version, ["a"], None, [row("mlops", mlops=1.0)])

    returns_within(three_submits, 10, "three submits to a full queue with no challenger thread")
    assert REGISTRY.get_sample_value("tagifai_shadow_dropped_total", {"model_name": "shadow-test-drops"}) == 2


def test_a_failing_challenger_is_counted_and_the_thread_goes_on():
    def predict(texts, params):
        if texts == ["boom"]:
            raise RuntimeError("challenger bug")
        return [row("mlops", mlops=1.0) for _ in texts]

    shadow, version = Shadow("shadow-test"), challenger(predict, "9")
    shadow.start()
    shadow.submit(version, ["boom"], None, [row("mlops", mlops=1.0)])
    shadow.submit(version, ["fine", "too"], None, [row("mlops", mlops=1.0), row("other", mlops=0.2, other=0.8)])
    wait_for(lambda: sample("tagifai_shadow_rows_total", "9") >= 2, 30, "both good rows compared", interval=0.01)
    assert sample("tagifai_shadow_errors_total", "9") == 1
    assert sample("tagifai_shadow_rows_total", "9") == 2 and sample("tagifai_shadow_agreed_rows_total", "9") == 1
