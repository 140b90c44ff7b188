"""Train the classifier's learned head on the corpus's train split (`make train-classifier`; issue 18).

Reproducible: the features are a pure function of the text (`core/_classify_learned.py`), the
model is scikit-learn's linear SVM (LinearSVC, one-vs-rest squared hinge, seeded), and the training
rows are the committed train split, the training-only prompts of corpus/extra/ and the regression set
(tests/data; it was always tuning data). The dev split picks the regularisation. The test split is
read only to drop extra prompts that nearly copy one of its prompts; nothing is learnt from it. The
SVM's scores become probabilities by a softmax whose temperature is fitted on dev (lowest log loss)
and folded into the weights, so serving reads them as a logistic head's. Writes
`gateway/tiergate_gateway/core/model/task-head.npz` (float16 weights) and prints the dev accuracy of
each candidate.

Needs scikit-learn (`pip install -e '.[train]'`), which the gateway itself never imports.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tiergate_api.enums import Task
from tiergate_gateway.core._classify_learned import BUCKETS, CUE_SCALE, TASK_ORDER, features
from tiergate_gateway.core.classify import cue_evidence

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ROOT / "corpus" / "splits"
REGRESSION = ROOT / "tests" / "data" / "classifier-regression.jsonl"
EXTRA = ROOT / "corpus" / "extra"
"""Training-only prompts written after the split (never in dev or test; near-copies of those are dropped)."""
OUTPUT = ROOT / "gateway" / "tiergate_gateway" / "core" / "model" / "task-head.npz"
CANDIDATE_C = (0.5, 1.0, 2.0)
TEMPERATURES = tuple(round(0.05 * step, 2) for step in range(1, 41))
SEED = 18


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def matrix(rows: list[dict[str, Any]]) -> Any:
    """Rows of sparse n-gram and cue features, then the seven scaled cue scores."""
    from scipy.sparse import csr_matrix

    data: list[Any] = []
    indices: list[Any] = []
    pointers = [0]
    scores = np.zeros((len(rows), len(TASK_ORDER)), dtype=np.float64)
    for number, row in enumerate(rows):
        evidence = cue_evidence(row["messages"])
        names: tuple[str, ...] = ()
        instruction = ""
        if evidence is not None:
            scores[number] = np.asarray(evidence[0]) * CUE_SCALE
            names, instruction = evidence[1], evidence[2]
        buckets, values = features(row["messages"], names, instruction)
        unique, where = np.unique(buckets, return_inverse=True)
        summed = np.zeros(len(unique))
        np.add.at(summed, where, values)
        indices.append(unique)
        data.append(summed)
        pointers.append(pointers[-1] + len(unique))
    grams = csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(pointers)), shape=(len(rows), BUCKETS))
    from scipy.sparse import hstack

    return hstack([grams, csr_matrix(scores)]).tocsr()


def _words(row: dict[str, Any]) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", str(row["messages"][-1]["content"]).lower()))


def without_near_copies(rows: list[dict[str, Any]], held_out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Extra rows whose last turn shares most of its words (Jaccard > 0.6) with a held-out row are dropped,
    so that no dev or test prompt is learnt under another id. Only their word sets are compared: the
    held-out rows are not otherwise read."""
    held = [_words(row) for row in held_out]
    kept = []
    for row in rows:
        words = _words(row)
        if not any(words and other and len(words & other) / len(words | other) > 0.6 for other in held):
            kept.append(row)
    return kept


def fitted_temperature(scores: Any, labels: Any) -> float:
    """The softmax temperature that turns the SVM's scores into the dev split's best-calibrated
    probabilities (lowest mean log loss over `TEMPERATURES`)."""
    truth = np.array([TASK_ORDER.index(Task(label)) for label in labels])
    best: tuple[float, float] | None = None
    for temperature in TEMPERATURES:
        logits = scores / temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = float(-log_probabilities[np.arange(len(truth)), truth].mean())
        if best is None or loss < best[0]:
            best = (loss, temperature)
    assert best is not None
    return best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--extra", type=Path, default=EXTRA, help="folder of training-only prompts (default corpus/extra)"
    )
    args = parser.parse_args(argv)
    try:
        from sklearn.svm import LinearSVC
    except ImportError:
        print("train_classifier: needs scikit-learn: pip install -e '.[train]'", file=sys.stderr)
        return 2
    dev = load(SPLITS / "dev.jsonl")
    extra = [row for path in sorted(args.extra.glob("*.jsonl")) for row in load(path)] if args.extra.is_dir() else []
    kept = without_near_copies(extra, dev + load(SPLITS / "test.jsonl"))
    print(f"training rows: {len(load(SPLITS / 'train.jsonl'))} train split, {len(kept)} of {len(extra)} extra")
    train = load(SPLITS / "train.jsonl") + kept + [{**row, "language": "xx"} for row in load(REGRESSION)]
    x_train, x_dev = matrix(train), matrix(dev)
    labels = [Task(row["task"]).value for row in train]
    dev_labels = np.array([row["task"] for row in dev])
    best: tuple[float, float, Any] | None = None
    for c in CANDIDATE_C:
        model = LinearSVC(C=c, random_state=SEED, max_iter=20000).fit(x_train, labels)
        accuracy = float((model.predict(x_dev) == dev_labels).mean())
        print(f"C={c:g}: dev accuracy {accuracy:.1%}")
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    assert best is not None
    accuracy, c, model = best
    order = [list(model.classes_).index(task.value) for task in TASK_ORDER]
    temperature = fitted_temperature(model.decision_function(x_dev)[:, order], dev_labels)
    coef = model.coef_[order] / temperature  # (7, BUCKETS + 7)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.output,
        weights=coef[:, :BUCKETS].T.astype(np.float16),
        cue_weights=coef[:, BUCKETS:].T.astype(np.float16),
        bias=(model.intercept_[order] / temperature).astype(np.float16),
    )
    size_mb = args.output.stat().st_size / 1e6
    print(f"kept C={c:g} (dev {accuracy:.1%}), softmax temperature {temperature:g}")
    print(f"wrote {args.output} ({size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
