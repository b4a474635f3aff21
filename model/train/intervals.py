"""Calibrated prediction intervals for the served point model (called by train.py).

Method: normalised split-conformal prediction, calibrated per bin of the predicted value
(Mondrian), on training rows only:

- The training rows (never the hold-out) are split once: a fit part (75 %) and a calibration part
  (25 %, 4,128 rows). Nothing fitted on the fit part sees a calibration row, and the other way round.
- On the fit part: a centre model (the point model's configuration) and a scale model, a
  Poisson-loss HistGradientBoostingRegressor of the centre's absolute error. The scale model learns
  from out-of-fold errors (5-fold cross-fitting on the fit part): in-sample errors of a boosted
  model are far smaller than its errors on new rows.
- On the calibration part: the scores |y - centre| / scale, grouped into 5 bins of the centre
  prediction (quintiles on the calibration rows); per bin and level, the conformal quantile at
  rank ceil((n + 1) * level). Binning makes coverage hold per price band, not only on average: one
  quantile for all rows over-covers cheap houses and under-covers expensive ones.
- Interval: centre -/+ q[bin, level] * scale, widened where needed to contain the served point.

The served point model itself is fitted on all training rows, calibration rows included, so its
errors on those rows are in-sample and could not calibrate anything; the interval is centred on
the centre model and only clamped to the served point.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, train_test_split

import export_onnx

LEVELS = [0.8, 0.9, 0.95]
DEFAULT_LEVEL = 0.9
CALIBRATION_SEED = 1
CALIBRATION_SHARE = 0.25
CROSS_FIT_FOLDS = 5
CROSS_FIT_SEED = 0
BINS = 5
SCALE_PARAMS = dict(loss="poisson", learning_rate=0.05, max_iter=200, max_leaf_nodes=15,
                    min_samples_leaf=50, l2_regularization=0.0)
REFERENCE_ROWS = 400  # first hold-out rows whose intervals the TypeScript parity test checks


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest score: split-conformal's finite-sample quantile."""
    n = len(scores)
    rank = int(np.ceil((n + 1) * level))
    if rank > n:
        raise ValueError(f"{n} calibration scores are too few for level {level}")
    return float(np.sort(scores)[rank - 1])


class Intervals:
    """Fitted centre and scale models plus the calibration table; predicts like the ONNX graph."""

    def __init__(self, centre, scale, edges, q_table):
        self.centre, self.scale, self.edges, self.q_table = centre, scale, edges, q_table

    def bins(self, centre: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, centre, side="right")  # number of edges <= centre

    def predict(self, features: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.centre.predict(features)
        half = self.q_table[self.bins(c)] * self.scale.predict(features)[:, None]
        return (np.minimum(c[:, None] - half, point[:, None]),
                np.maximum(c[:, None] + half, point[:, None]))


def fit(X_tr, y_tr, features, make_centre) -> tuple[Intervals, dict]:
    """`features(X)` gives the model inputs; `make_centre()` a fresh point-model regressor."""
    X_fit, X_cal, y_fit, y_cal = train_test_split(X_tr, y_tr, test_size=CALIBRATION_SHARE,
                                                  random_state=CALIBRATION_SEED)
    F_fit, F_cal = features(X_fit), features(X_cal)
    centre = make_centre().fit(F_fit, y_fit)
    out_of_fold = np.zeros(len(y_fit))
    for a, b in KFold(CROSS_FIT_FOLDS, shuffle=True, random_state=CROSS_FIT_SEED).split(F_fit):
        out_of_fold[b] = make_centre().fit(F_fit[a], y_fit[a]).predict(F_fit[b])
    scale = HistGradientBoostingRegressor(**SCALE_PARAMS, early_stopping=False,
                                          random_state=0).fit(F_fit, np.abs(y_fit - out_of_fold))
    c_cal = centre.predict(F_cal)
    scores = np.abs(y_cal - c_cal) / scale.predict(F_cal)
    edges = np.quantile(c_cal, np.linspace(0, 1, BINS + 1)[1:-1])
    # float32 edges, as the graph compares them with its float32 centre
    edges = edges.astype(np.float32).astype(np.float64)
    bin_of = np.searchsorted(edges, c_cal, side="right")
    q_table = np.array([[conformal_quantile(scores[bin_of == b], lv) for lv in LEVELS]
                        for b in range(BINS)])
    model = Intervals(centre, scale, edges, q_table)
    info = {"fit_rows": int(len(y_fit)), "calibration_rows": int(len(y_cal)),
            "bin_rows": [int(np.sum(bin_of == b)) for b in range(BINS)]}
    return model, info


def tolerance(level: float, n_holdout: int, n_cal: int) -> float:
    """99 % band for the sampling noise of both the calibration and the hold-out set."""
    return 2.58 * float(np.sqrt(level * (1 - level) * (1 / n_holdout + 1 / n_cal)))


def evaluate(low, high, y, point, n_cal) -> dict:
    inside = (y[:, None] >= low) & (y[:, None] <= high)
    width = high - low
    per_level = []
    for k, lv in enumerate(LEVELS):
        cov, tol = float(inside[:, k].mean()), tolerance(lv, len(y), n_cal)
        per_level.append({"level": lv, "coverage": round(cov, 4),
                          "mean_width": round(float(width[:, k].mean()), 4),
                          "tolerance": round(tol, 4), "within_tolerance": bool(abs(cov - lv) <= tol)})
    k90 = LEVELS.index(DEFAULT_LEVEL)
    constant = 2 * float(np.quantile(np.abs(y - point), DEFAULT_LEVEL))
    edges = np.quantile(point, np.linspace(0, 1, 11))
    decile = np.clip(np.searchsorted(edges, point, side="right") - 1, 0, 9)
    deciles = [{"decile": d + 1, "from": round(float(edges[d]), 4), "to": round(float(edges[d + 1]), 4),
                "rows": int(np.sum(decile == d)),
                "coverage": round(float(inside[decile == d, k90].mean()), 4),
                "mean_width": round(float(width[decile == d, k90].mean()), 4)} for d in range(10)]
    return {
        "rows": int(len(y)),
        "levels": per_level,
        "constant_width_baseline": {
            "description": "2 * q0.9(|y - house_value|) on the hold-out: the constant width that "
                           "covers 90 % of the hold-out around the served point model",
            "width": round(constant, 4),
            "mean_width_ratio_at_0.9": round(float(width[:, k90].mean()) / constant, 4),
        },
        "conditional_coverage_at_0.9": {"by": "decile of house_value on the hold-out",
                                        "min": min(d["coverage"] for d in deciles),
                                        "deciles": deciles},
        "rows_widened_to_contain_point": [int(np.sum(
            (low[:, k] == point) | (high[:, k] == point))) for k in range(len(LEVELS))],
    }


def export(model: Intervals, n_inputs, lat, lon, doc):
    return export_onnx.build_interval_model(model.centre, model.scale, model.edges, model.q_table,
                                            n_inputs, lat, lon, doc)


def reference(path: Path, X_te32_rows, point, low, high) -> None:
    """The first REFERENCE_ROWS hold-out rows (in holdout.json's order) with scikit-learn's
    intervals, for tests/unit/intervals-model.test.ts (no Python)."""
    n = REFERENCE_ROWS
    path.write_text(json.dumps({
        "levels": LEVELS,
        "rows": n,
        "note": "rows 0..rows-1 of holdout.json; low/high[i][k] for levels[k], clamped to "
                "house_value = holdout.json sklearn_pred[i] (float64 scikit-learn)",
        "low": [[float(v) for v in r] for r in low[:n]],
        "high": [[float(v) for v in r] for r in high[:n]],
    }, separators=(",", ":")) + "\n")
