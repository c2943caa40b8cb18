"""The cluster form: `spark-submit [--master URL] [--py-files ...] batch/submit.py --input ... --output ...`.

Same job as `tagifai batch-score`, but the Spark master and resources come from spark-submit. The driver
resolves the model URI on the tracking server named by MLFLOW_TRACKING_URI (see docs/batch.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

# Run as a script, Python puts batch/ itself first on sys.path, where store.py, models.py, ... would shadow
# top-level modules of those names. Import the package as a package instead.
if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import mlflow  # noqa: E402

from tagifai import config  # noqa: E402
from tagifai.errors import TagifaiError  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batch/submit.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="CSV or Parquet file or folder (any Spark path).")
    parser.add_argument("--output", required=True, help="Folder for predictions/ and rejects/ (any Spark path).")
    parser.add_argument("--model-uri", default=config.CHAMPION_URI)
    parser.add_argument("--store", default=None, help="Prediction store URL (default: $TAGIFAI_STORE_URL).")
    parser.add_argument("--format", default=None, choices=("csv", "parquet"))
    parser.add_argument("--partitions", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from batch.job import run_job  # after argparse: `--help` needs no Spark

    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow.store", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(config.tracking_uri())
    try:
        result = run_job(args.input, args.output, args.model_uri, args.store, master=None, fmt=args.format,
                         partitions=args.partitions)
    except TagifaiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
