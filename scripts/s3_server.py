"""A local S3-compatible server for the team tracking server: moto's server mode on 127.0.0.1, bucket created.

    make s3                                                # settings from .env (documented in .env.example)
    .venv/bin/python scripts/s3_server.py --env-file team.env

It listens where MLFLOW_S3_ENDPOINT_URL points (a loopback address only: moto has no authentication) and
creates the bucket of MLFLOW_ARTIFACTS_DESTINATION (s3://BUCKET/PREFIX). Objects live in memory: they are
gone when it stops. For real S3 or MinIO, do not run this; point the two variables there (docs/team.md).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tagifai.config import read_env_file

BIN_DIR = Path(sys.executable).parent
START_TIMEOUT = 30.0


class SettingsError(Exception):
    pass


def endpoint_and_bucket(env: dict[str, str]) -> tuple[str, int, str]:
    endpoint = env.get("MLFLOW_S3_ENDPOINT_URL") or ""
    destination = env.get("MLFLOW_ARTIFACTS_DESTINATION") or ""
    parsed = urlparse(endpoint)
    if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
        raise SettingsError(f"MLFLOW_S3_ENDPOINT_URL={endpoint!r}: the local S3 needs http://127.0.0.1:PORT")
    try:
        loopback = ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        loopback = parsed.hostname == "localhost"
    if not loopback:
        raise SettingsError(f"MLFLOW_S3_ENDPOINT_URL={endpoint}: the local S3 (no authentication) listens on a "
                            "loopback address only; for a shared store use real S3 or MinIO")
    if not destination.startswith("s3://") or not destination[len("s3://"):].split("/", 1)[0]:
        raise SettingsError(f"MLFLOW_ARTIFACTS_DESTINATION={destination!r}: expected s3://BUCKET/PREFIX")
    return parsed.hostname, parsed.port, destination[len("s3://"):].split("/", 1)[0]


def s3_client(endpoint: str, env: dict[str, str]):
    # moto accepts any credentials; real ones from the env file are used if given.
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=env.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or "testing",
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or "testing",
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )


def wait_and_create_bucket(process: subprocess.Popen, endpoint: str, bucket: str, env: dict[str, str]) -> None:
    client = s3_client(endpoint, env)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise SettingsError(f"moto_server exited with code {process.returncode} (is the port already taken?)")
        try:
            client.create_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return
            raise
        except Exception:
            if time.monotonic() > deadline:
                raise SettingsError(f"no answer from moto_server on {endpoint} within {START_TIMEOUT:.0f} s") from None
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="KEY=VALUE settings (default: .env; see .env.example); the environment wins")
    options = parser.parse_args(argv)
    values = read_env_file(options.env_file) if options.env_file.exists() else {}
    env = {**values, **os.environ}
    try:
        host, port, bucket = endpoint_and_bucket(env)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    endpoint = f"http://{host}:{port}"
    process = subprocess.Popen([str(BIN_DIR / "moto_server"), "-H", host, "-p", str(port)], stdin=subprocess.DEVNULL)

    def stop(signum, _frame):
        process.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        wait_and_create_bucket(process, endpoint, bucket, env)
    except Exception as exc:
        process.terminate()
        process.wait(timeout=10)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"S3 (moto) ready on {endpoint}, bucket '{bucket}' (in memory: gone when stopped)", flush=True)
    code = process.wait()
    return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code


if __name__ == "__main__":
    sys.exit(main())
