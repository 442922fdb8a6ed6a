"""Trains one classifier per source from the feature tables written by export-features.ts
and writes one store version per model: <models-dir>/<name>/<version>/{model.onnx,
manifest.json,golden.json}. training/build.sh then adds the manifest's `reference` block
(training/reference.ts: the drift bins are computed in TypeScript only, like the features,
so the trainer and the serving side cannot bin differently) and signs it (training/sign.ts).

Deterministic: fixed random_state, no timestamps in any artifact, so a rebuild on the
same library versions reproduces the same bytes.

    python training/train.py <data-dir> <models-dir> [--version X.Y.Z]
"""

import csv
import hashlib
import json
import os
import platform
import re
import sys

import numpy as np
import onnx
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import RandomForestClassifier

# The version train.py writes unless --version says otherwise. Store versions are immutable:
# build.sh refuses to replace an existing version with different bytes.
MODEL_VERSION = "1.0.0"
RANDOM_STATE = 20250303
INPUT_NAME = "features"
# ONNX opsets every onnxruntime >= 1.14 runs (TreeEnsembleClassifier from ai.onnx.ml 3).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
GOLDEN_ROWS = 50

# Bounded forests: the node count (hence file size and latency) is capped by
# n_estimators * (2 * max_leaf_nodes - 1).
MODELS = {
    "payments": {"name": "payments-fraud-rf", "n_estimators": 60, "max_leaf_nodes": 300},
    "auth": {"name": "auth-ato-rf", "n_estimators": 60, "max_leaf_nodes": 300},
    "netflow": {"name": "netflow-attack-rf", "n_estimators": 50, "max_leaf_nodes": 300},
}


def load_table(path, features, labels):
    """Rows, labels and per-row weights. A table may end with a `weight` column (retrain.ts
    writes one: feedback rows can weigh more than generated ones); without it every row
    weighs 1 and the weights are None, so fit() runs exactly as it always did."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        weighted = header == list(features) + ["label", "weight"]
        if header != list(features) + ["label"] and not weighted:
            raise SystemExit(f"{path}: header does not match the feature order in meta.json")
        width = len(features)
        rows, ys, ws = [], [], []
        index = {name: i for i, name in enumerate(labels)}
        for row in reader:
            rows.append([float(v) for v in row[:width]])
            ys.append(index[row[width]])
            if weighted:
                ws.append(float(row[width + 1]))
    weights = np.asarray(ws, dtype=np.float64) if weighted else None
    return np.asarray(rows, dtype=np.float32), np.asarray(ys, dtype=np.int64), weights


def decide(proba, labels, thresholds):
    """The decision rule the runtime applies (libs/models/decision.ts): a label with a
    threshold wins when its probability reaches it (the most probable such label);
    otherwise the most probable label among those without a threshold."""
    thresholded = [i for i, name in enumerate(labels) if name in thresholds]
    free = [i for i in range(len(labels)) if i not in thresholded]
    out = np.empty(len(proba), dtype=np.int64)
    for r, p in enumerate(proba):
        hits = [i for i in thresholded if p[i] >= thresholds[labels[i]]]
        pool = hits if hits else free
        best = pool[0]
        for i in pool[1:]:
            if p[i] > p[best]:
                best = i
        out[r] = best
    return out


def classification_metrics(y_true, y_pred, labels):
    per_class = {}
    for i, name in enumerate(labels):
        tp = int(np.sum((y_pred == i) & (y_true == i)))
        fp = int(np.sum((y_pred == i) & (y_true != i)))
        fn = int(np.sum((y_pred != i) & (y_true == i)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int(np.sum(y_true == i)),
        }
    macro = sum(c["f1"] for c in per_class.values()) / len(labels)
    return {
        "macro_f1": round(macro, 4),
        "accuracy": round(float(np.mean(y_true == y_pred)), 4),
        "per_class": per_class,
    }


def tune_threshold(oob_proba, y, positive):
    """Threshold on the positive class maximising its F1 on out-of-bag predictions."""
    seen = ~np.isnan(oob_proba).any(axis=1)
    p, t = oob_proba[seen, positive], y[seen] == positive
    best, best_f1 = 0.5, -1.0
    for thr in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = p >= thr
        tp = np.sum(pred & t)
        f1 = 2 * tp / (np.sum(pred) + np.sum(t)) if np.sum(pred) + np.sum(t) else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(thr), float(f1)
    return best


def golden_rows(y_test, count):
    """The first rows of the held-out set plus the first rows of every minority class, so
    each class appears in the golden sample."""
    picked = list(range(min(count // 2, len(y_test))))
    classes = sorted(set(int(c) for c in y_test))
    per_class = max(1, (count - len(picked)) // max(1, len(classes) - 1))
    for c in classes[1:]:
        picked += [int(i) for i in np.flatnonzero(y_test == c) if i not in picked][:per_class]
    return sorted(set(picked))[:count]


def train_source(source, meta, data_dir, models_dir, plan, version):
    cfg = MODELS[source]
    features, labels = meta["features"], meta["labels"]
    x_train, y_train, w_train = load_table(os.path.join(data_dir, f"{source}.train.csv"), features, labels)
    x_test, y_test, _ = load_table(os.path.join(data_dir, f"{source}.test.csv"), features, labels)
    binary = len(labels) == 2
    model = RandomForestClassifier(
        n_estimators=cfg["n_estimators"],
        max_leaf_nodes=cfg["max_leaf_nodes"],
        min_samples_leaf=2,
        max_features="sqrt",
        oob_score=binary,
        random_state=RANDOM_STATE,
        n_jobs=2,
    )
    model.fit(x_train, y_train, sample_weight=w_train)
    # Parallel predict_proba sums the trees in thread-completion order, which changes the
    # last bits of the probabilities from run to run: predict on one thread.
    model.set_params(n_jobs=1)
    thresholds = {}
    if binary:
        thresholds[labels[1]] = tune_threshold(model.oob_decision_function_, y_train, 1)

    proba_test = model.predict_proba(x_test)
    metrics = classification_metrics(y_test, decide(proba_test, labels, thresholds), labels)

    onx = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(features)]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    onx.doc_string = f"{cfg['name']} {version}: {source} classifier, inputs in manifest feature order"
    onnx_bytes = onx.SerializeToString()
    out_dir = os.path.join(models_dir, cfg["name"], version)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.onnx"), "wb") as f:
        f.write(onnx_bytes)

    rows = golden_rows(y_test, GOLDEN_ROWS)
    golden_proba = proba_test[rows]
    golden_labels = decide(golden_proba, labels, thresholds)
    golden = {
        "model": cfg["name"],
        "version": version,
        "note": "held-out rows with the trainer's (scikit-learn's) own predictions",
        "rows": [
            {
                "features": [float(v) for v in x_test[i]],
                "label": labels[int(golden_labels[k])],
                "probabilities": {labels[j]: float(golden_proba[k][j]) for j in range(len(labels))},
            }
            for k, i in enumerate(rows)
        ],
    }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")

    manifest = {
        "name": cfg["name"],
        "version": version,
        "source": meta["model_key"],
        "file": "model.onnx",
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "size_bytes": len(onnx_bytes),
        "input_name": INPUT_NAME,
        "output_probabilities": "probabilities",
        "features": features,
        "labels": labels,
        "thresholds": thresholds,
        "decision_rule": "a label with a threshold wins when its probability reaches it; otherwise argmax over the other labels",
        "algorithm": {
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "n_estimators": cfg["n_estimators"],
            "max_leaf_nodes": cfg["max_leaf_nodes"],
            "min_samples_leaf": 2,
            "max_features": "sqrt",
            "random_state": RANDOM_STATE,
            "threshold_tuning": "positive-class F1 on out-of-bag predictions" if binary else None,
        },
        "training": {
            "train_seed": plan["trainSeed"],
            "test_seed": plan["testSeed"],
            "train_rows": int(len(y_train)),
            "test_rows": int(len(y_test)),
            "train_class_counts": meta["train_class_counts"],
            "test_class_counts": meta["test_class_counts"],
        },
        "metrics_held_out": metrics,
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
            "opset": TARGET_OPSET,
        },
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(
        f"train: {source}: {cfg['name']}@{version} macro-F1 {metrics['macro_f1']} "
        f"thresholds {thresholds} size {len(onnx_bytes) / 1e6:.2f} MB"
    )


def main():
    args = sys.argv[1:]
    version = MODEL_VERSION
    if len(args) == 4 and args[2] == "--version":
        version = args[3]
        args = args[:2]
    if len(args) != 2:
        raise SystemExit("usage: train.py <data-dir> <models-dir> [--version X.Y.Z]")
    if not re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", version):
        raise SystemExit(f"train: --version must be major.minor.patch, got {version!r}")
    data_dir, models_dir = args
    with open(os.path.join(data_dir, "meta.json")) as f:
        meta = json.load(f)
    for source, source_meta in meta["sources"].items():
        if source not in MODELS:
            raise SystemExit(f"train: no model configuration for source {source!r} in train.py MODELS")
        train_source(source, source_meta, data_dir, models_dir, meta["plan"], version)


if __name__ == "__main__":
    main()
