"""`make spark-cluster`: a Spark standalone master and one worker on 127.0.0.1 (harness.spark_cluster), until
Ctrl-C. Prints the master URL and the spark-submit line of docs/batch.md for it."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.spark_cluster import running_cluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="2g")
    parser.add_argument("--work-dir", type=Path, default=None, help="Logs and executor folders (default: a temp dir).")
    args = parser.parse_args()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="tagifai-spark-cluster-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with running_cluster(work_dir, args.cores, args.memory) as cluster:
        conf = " ".join(cluster.submit_conf())
        print(f"Spark master {cluster.master_url} (web UI http://127.0.0.1:{cluster.master_webui}), one worker with "
              f"{args.cores} cores (http://127.0.0.1:{cluster.worker_webui}); logs in {work_dir}\n"
              f"Submit the batch job (docs/batch.md, 'The cluster form'):\n"
              f"  zip -qr dist/tagifai-batch.zip batch tagifai\n"
              f"  SPARK_LOCAL_IP=127.0.0.1 .venv/bin/spark-submit --master {cluster.master_url} --deploy-mode client "
              f"--py-files dist/tagifai-batch.zip {conf} batch/submit.py --input data/labeled_projects.csv "
              f"--output outputs/batch\nCtrl-C stops the cluster.", flush=True)
        try:
            while all(p.poll() is None for p in cluster.processes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        print("stopping the cluster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
