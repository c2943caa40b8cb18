"""A Spark standalone cluster on this machine: one master and one worker from the installed pyspark, bound to
127.0.0.1 only (the batch tests and `make spark-cluster`).

The pip pyspark has no sbin/start-*.sh, but bin/spark-class runs the master and worker classes. Without
SPARK_LOCAL_IP and --host they bind this machine's non-loopback interface; `listening_addresses` checks that
nothing of the cluster (or a driver submitted to it with `submit_conf`) listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.http import TRANSPORT_ERRORS, get
from harness.ports import free_port, listening
from harness.proc import proc_table, socket_inodes
from harness.processes import log_text, start_logged, stop_group, wait_up

HOST = "127.0.0.1"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def cluster_env(python: str = sys.executable) -> dict[str, str]:
    """The environment of the daemons and of spark-submit: loopback only, our Python for the workers."""
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST, "SPARK_LOCAL_HOSTNAME": "localhost",
        "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python,
        "SPARK_DAEMON_MEMORY": "256m",  # master and worker only route; the executor gets its own JVM
        # The master's REST submission server would take the fixed port 6066: not needed (spark-submit uses RPC).
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        "PATH": f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    return env


@dataclass
class SparkCluster:
    master_url: str
    master_webui: int
    worker_webui: int
    work_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def submit_conf(self, python: str = sys.executable) -> list[str]:
        """spark-submit flags that keep the driver on 127.0.0.1 too (its RPC, block manager and UI)."""
        conf = {"spark.driver.host": HOST, "spark.driver.bindAddress": HOST, "spark.ui.port": str(free_port()),
                "spark.pyspark.python": python, "spark.pyspark.driver.python": python}
        return [item for key, value in conf.items() for item in ("--conf", f"{key}={value}")]

    def alive_workers(self) -> int:
        try:
            status, body = get(f"http://{HOST}:{self.master_webui}/json/", timeout=2)
        except TRANSPORT_ERRORS:
            return 0
        return json.loads(body).get("aliveworkers", 0) if status == 200 else 0

    def log(self) -> str:
        return "\n".join(f"--- {path.name}\n{log_text(path, tail=40)}" for path in self.logs)


def code_archive(root: Path, dest: Path, packages: tuple[str, ...] = ("batch", "tagifai")) -> Path:
    """The executors' code as docs/batch.md builds it (`zip -qr dist/tagifai-batch.zip batch tagifai`)."""
    import zipfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                archive.write(path, path.relative_to(root))
    return dest


def _spark_class(cls: str, *args: str) -> list[str]:
    return [str(spark_home() / "bin" / "spark-class"), cls, *args]


def start_cluster(work_dir: Path, cores: int = 2, memory: str = "2g", timeout: float = 90.0) -> SparkCluster:
    """Master, then one worker with `cores` cores; returned once the worker has registered with the master."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port, master_ui, worker_ui = free_port(), free_port(), free_port()
    cluster = SparkCluster(f"spark://{HOST}:{port}", master_ui, worker_ui, work_dir)
    env = cluster_env()
    try:
        master_log = work_dir / "master.log"
        master = start_logged(_spark_class("org.apache.spark.deploy.master.Master", "--host", HOST, "--port",
                                           str(port), "--webui-port", str(master_ui)), master_log, env=env)
        cluster.processes.append(master)
        cluster.logs.append(master_log)
        wait_up(master, lambda: listening(port) and listening(master_ui), timeout, "the Spark master", master_log)
        worker_log = work_dir / "worker.log"
        worker = start_logged(_spark_class("org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host",
                                           HOST, "--cores", str(cores), "--memory", memory, "--work-dir",
                                           str(work_dir / "work"), "--webui-port", str(worker_ui)),
                              worker_log, env=env)
        cluster.processes.append(worker)
        cluster.logs.append(worker_log)
        wait_up(worker, lambda: cluster.alive_workers() >= 1, timeout, "the Spark worker registered", worker_log)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: SparkCluster) -> None:
    """Worker first (its executors with it), then the master; each with its whole process group."""
    for process in reversed(cluster.processes):
        stop_group(process)


@contextmanager
def running_cluster(work_dir: Path, cores: int = 2, memory: str = "2g") -> Iterator[SparkCluster]:
    cluster = start_cluster(work_dir, cores, memory)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


# --- what listens -------------------------------------------------------------------------------------------


def _listening_sockets() -> dict[str, str]:
    """inode -> "address:port" of every TCP socket in LISTEN state on this machine (IPv4 and IPv6)."""
    found = {}
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A":
                continue
            address, port = local.split(":")
            found[inode] = f"{_address(address, width)}:{int(port, 16)}"
    return found


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]  # four little-endian 32-bit words
    full = b"".join(words)
    if full[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in full[12:])  # IPv4-mapped
    return "[" + ":".join(full[i:i + 2].hex() for i in range(0, 16, 2)) + "]"


def listening_addresses(pgids: list[int]) -> set[str]:
    """Every "address:port" that a process of these process groups listens on."""
    sockets = _listening_sockets()
    found = set()
    for pid, stat in proc_table().items():
        if stat.pgrp not in pgids:
            continue
        found.update(sockets[str(inode)] for inode in socket_inodes(pid) if str(inode) in sockets)
    return found
