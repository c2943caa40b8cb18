"""deploy/kubernetes.yaml against the real thing: `mlflow models serve`'s flags, the image MLflow generates, and the
endpoints of a scoring server started with the manifest's own arguments. No cluster or Docker engine needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from harness.ports import free_port
from harness.processes import running
from team_stack import BIN, ROOT, clean_env

MANIFEST = ROOT / "deploy" / "kubernetes.yaml"
MODEL_CODE = '''
import mlflow
from mlflow.pyfunc import PythonModel


class Echo(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())
'''


@pytest.fixture(scope="module")
def manifest() -> dict[str, dict]:
    documents = [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]
    kinds = {doc["kind"]: doc for doc in documents}
    assert sorted(kinds) == ["Deployment", "HorizontalPodAutoscaler", "Service"], list(kinds)
    return kinds


@pytest.fixture(scope="module")
def container(manifest) -> dict:
    (only,) = manifest["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def options(args: list[str]) -> dict[str, str]:
    """--flag value pairs of the container's args (every flag here takes a value)."""
    assert len(args) % 2 == 0 and all(a.startswith("--") for a in args[::2]), args
    return dict(zip(args[::2], args[1::2]))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A real pyfunc model (models-from-code, echoes its input), saved locally: no tracking server needed."""
    base = tmp_path_factory.mktemp("tiny-model")
    (base / "echo.py").write_text(MODEL_CODE)
    code = (f"import mlflow, pandas as pd; mlflow.pyfunc.save_model({str(base / 'model')!r}, "
            f"python_model={str(base / 'echo.py')!r}, input_example=pd.DataFrame({{'text': ['hello']}}), "
            "pip_requirements=['mlflow'])")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=clean_env(), timeout=120)
    return base / "model"


@pytest.mark.slow  # runs the mlflow CLI (a process importing all of MLflow)
def test_command_is_mlflow_models_serve_with_flags_it_has(container):
    assert container["command"] == ["mlflow", "models", "serve"]
    help_text = subprocess.run([str(BIN / "mlflow"), "models", "serve", "--help"], capture_output=True, text=True,
                               check=True, env=clean_env(), timeout=60).stdout
    known = set(re.findall(r"(--[a-z][a-z-]*)", help_text))
    given = options(container["args"])
    assert set(given) <= known, f"flags mlflow models serve does not have: {set(given) - known}"
    assert given["--env-manager"] == "local"  # the image already holds the model's environment
    assert given["--host"] == "0.0.0.0"       # reachable from the Service, not only inside the pod
    (port,) = container["ports"]
    assert int(given["--port"]) == port["containerPort"]


@pytest.mark.slow  # runs the mlflow CLI (a process importing all of MLflow)
def test_model_path_is_where_mlflows_image_puts_the_model(container, tiny_model, tmp_path):
    build = tmp_path / "build"
    subprocess.run([str(BIN / "mlflow"), "models", "generate-dockerfile", "-m", str(tiny_model), "-d", str(build),
                    "--env-manager", "local"], check=True, capture_output=True, env=clean_env(), timeout=120)
    dockerfile = (build / "Dockerfile").read_text()
    copied_to = re.search(r"^COPY model_dir/model (\S+)$", dockerfile, re.MULTILINE)
    assert copied_to, dockerfile
    assert options(container["args"])["--model-uri"] == copied_to.group(1)
    assert re.search(r"^RUN pip install mlflow", dockerfile, re.MULTILINE), "the image must have the mlflow CLI"


def test_service_and_autoscaler_point_at_the_deployment(manifest, container):
    deployment, service, hpa = manifest["Deployment"], manifest["Service"], manifest["HorizontalPodAutoscaler"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for service_port in service["spec"]["ports"]:
        assert service_port["targetPort"] in port_names or service_port["targetPort"] in port_names.values()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"] if m["type"] == "Resource"):
        assert container["resources"]["requests"]["cpu"], "CPU utilisation is relative to the CPU request"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe_port = container[probe]["httpGet"]["port"]
        assert probe_port in port_names or probe_port in port_names.values(), probe


@pytest.mark.slow  # runs the mlflow CLI (a process importing all of MLflow)
def test_probes_and_invocations_answer_on_a_server_run_with_the_manifests_arguments(container, tiny_model, tmp_path):
    port = free_port()
    given = options(container["args"])
    given.update({"--model-uri": str(tiny_model), "--host": "127.0.0.1", "--port": str(port)})
    command = [str(BIN / "mlflow"), *container["command"][1:], *[x for pair in given.items() for x in pair]]
    env = clean_env(**{e["name"]: e["value"] for e in container.get("env", []) if e["name"] != "HOME"})
    log_path = tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    startup = container["startupProbe"]
    with running(command, log_path, ready_url=f"{url}{startup['httpGet']['path']}",
                 timeout=startup["periodSeconds"] * startup["failureThreshold"], env=env):  # the startup probe
        for probe in ("readinessProbe", "livenessProbe"):
            check = container[probe]
            answer = httpx.get(f"{url}{check['httpGet']['path']}", timeout=check["timeoutSeconds"])
            assert answer.status_code == 200, (probe, answer.status_code, answer.text)
        assert httpx.get(f"{url}/no-such-endpoint", timeout=5).status_code == 404  # the checks above can fail
        scored = httpx.post(f"{url}/invocations", json={"dataframe_records": [{"text": "hello"}]}, timeout=30)
        assert scored.status_code == 200, scored.text
        assert scored.json()["predictions"] == [{"text": "hello"}]
