"""Streaming classification metrics: a confusion matrix grows item by item, the scores come from it."""

from __future__ import annotations

import numpy as np


def new_confusion(n: int) -> np.ndarray:
    """An empty n-by-n matrix: rows are the truth, columns the prediction, in class_names order."""
    return np.zeros((n, n), dtype=np.int64)


def summarize(confusion: np.ndarray, class_names: list[str] | tuple[str, ...]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support, as scikit-learn computes them."""
    # As sklearn's defaults do, the macro average runs over the classes present in the truth or the
    # predictions, and a ratio with a zero denominator counts as 0.
    cm = np.asarray(confusion, dtype=np.int64)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    evaluated = int(cm.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denominator = support + predicted  # 2·tp + fp + fn
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    present = (support + predicted) > 0
    return {
        "accuracy": float(tp.sum() / evaluated) if evaluated else None,
        "macro_f1": float(f1[present].mean()) if present.any() else None,
        "evaluated": evaluated,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion": cm.tolist(),
    }
