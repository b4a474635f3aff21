#!/usr/bin/python3
"""Train the California Housing price model and write model/model.onnx, model/model.json and
model/reference/holdout.json.  Run from the repository root:  npm run train

Deterministic: fixed seeds, and single-threaded OpenMP so floating-point sums do not depend on
thread scheduling; two runs give byte-identical model.onnx and identical metrics.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy/sklearn load their thread pools

import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "model" / "data" / "cal_housing.data"
ONNX_OUT = ROOT / "model" / "model.onnx"
CARD_OUT = ROOT / "model" / "model.json"
HOLDOUT_OUT = ROOT / "model" / "reference" / "holdout.json"

NAME = "california-housing-gbdt"
VERSION = "1.0.0"
SPLIT_SEED = 42  # the project's fixed evaluation split
VALIDATION_SEED = 0  # validation part carved from the training rows, for tuning only
TREE_SEED = 0

FEATURES = [  # must match shared/input/features.ts (checked below and by tests/model.test.ts)
    ("MedInc", "10000 USD", "median income of households in the block group"),
    ("HouseAge", "years", "median age of houses in the block group"),
    ("AveRooms", "rooms per household", "average number of rooms per household"),
    ("AveBedrms", "bedrooms per household", "average number of bedrooms per household"),
    ("Population", "people", "block group population"),
    ("AveOccup", "people per household", "average number of household members"),
    ("Latitude", "degrees north", "block group latitude"),
    ("Longitude", "degrees east", "block group longitude (negative = west)"),
]
LAT, LON = 6, 7

# A handful of configurations, compared on the validation split. lr 0.1 and at most 400 trees
# keep the ensemble compact; the number of trees is picked from the validation curve.
MAX_TREES = 400
GRID = [
    dict(coords=False, max_leaf_nodes=63, min_samples_leaf=20, l2_regularization=0.0),
    dict(coords=True, max_leaf_nodes=31, min_samples_leaf=20, l2_regularization=0.0),
    dict(coords=True, max_leaf_nodes=63, min_samples_leaf=20, l2_regularization=0.0),
    dict(coords=True, max_leaf_nodes=63, min_samples_leaf=40, l2_regularization=0.0),
    dict(coords=True, max_leaf_nodes=63, min_samples_leaf=20, l2_regularization=1.0),
    dict(coords=True, max_leaf_nodes=127, min_samples_leaf=20, l2_regularization=0.0),
]
LEARNING_RATE = 0.1


def check_feature_order() -> None:
    ts = (ROOT / "shared" / "input" / "features.ts").read_text()
    block = re.search(r"FEATURES\s*=\s*\[(.*?)\]", ts, re.S)
    names = re.findall(r'"([^"]+)"', block.group(1)) if block else []
    if names != [f[0] for f in FEATURES]:
        sys.exit(f"feature order differs from shared/input/features.ts: {names}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load() -> tuple[np.ndarray, np.ndarray]:
    d = np.loadtxt(DATA, delimiter=",", dtype=np.float64)
    lon, lat, age, rooms, bedrooms, population, households, income, value = d.T
    X = np.column_stack([income, age, rooms / households, bedrooms / households, population,
                         population / households, lat, lon])
    return X, value / 100_000


def model_inputs(X: np.ndarray, coords: bool) -> np.ndarray:
    """What the ONNX graph computes before the tree ensemble: float32 inputs, plus optionally the
    45-degree rotated coordinates lat+lon and lat-lon (added in float32, like onnxruntime).
    Trees split axis-aligned, so the diagonal coordinates help them follow the coastline."""
    x = np.asarray(X, dtype=np.float32)
    if coords:
        lat, lon = x[:, LAT:LAT + 1], x[:, LON:LON + 1]
        x = np.concatenate([x, lat + lon, lat - lon], axis=1)
    return x.astype(np.float64)


def gbdt(cfg: dict, max_iter: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        learning_rate=LEARNING_RATE, max_iter=max_iter, max_leaf_nodes=cfg["max_leaf_nodes"],
        min_samples_leaf=cfg["min_samples_leaf"], l2_regularization=cfg["l2_regularization"],
        early_stopping=False, random_state=TREE_SEED)


def metrics(y: np.ndarray, p: np.ndarray) -> dict:
    return {
        "r2": round(float(r2_score(y, p)), 6),
        "rmse": round(float(np.sqrt(mean_squared_error(y, p))), 6),
        "mae": round(float(mean_absolute_error(y, p)), 6),
        "rows": int(len(y)),
    }


def js_json(obj) -> str:
    """JSON text as JavaScript's JSON.stringify(obj, null, 2) writes it (1.0 -> 1, 3.3e-06 ->
    0.0000033), so bench/model-bench.ts can rewrite the card without reformatting numbers."""
    def plain(o):
        if isinstance(o, float) and o.is_integer() and abs(o) < 1e21:
            return int(o)
        if isinstance(o, dict):
            return {k: plain(v) for k, v in o.items()}
        if isinstance(o, list):
            return [plain(v) for v in o]
        return o

    def expand(m: re.Match) -> str:  # JS switches to exponent notation only below 1e-6
        sign, lead, frac, exp = m.group(1), m.group(2), m.group(3) or "", int(m.group(4))
        return f"{sign}0.{'0' * (exp - 1)}{lead}{frac}"

    text = json.dumps(plain(obj), indent=2, ensure_ascii=False)
    return re.sub(r"(?<=[\s\[:,])(-?)(\d)(?:\.(\d+))?e-0?([56])(?=[\s,\]}])", expand, text)


def format_with_prettier(path: Path) -> None:
    """The repository's prettier config checks model.json; format it like `npm run format` would."""
    prettier = ROOT / "node_modules" / ".bin" / "prettier"
    if prettier.exists() and shutil.which("node"):
        subprocess.run([str(prettier), "--write", "--log-level", "warn", str(path)], cwd=ROOT, check=True)
    else:
        print("note: node_modules/.bin/prettier not found; model.json left unformatted")


def main() -> None:
    t0 = time.time()
    check_feature_order()
    X, y = load()
    idx = np.arange(len(y))
    X_tr, X_te, y_tr, y_te, i_tr, i_te = train_test_split(X, y, idx, test_size=0.2,
                                                          random_state=SPLIT_SEED)
    X_fit, X_val, y_fit, y_val = train_test_split(X_tr, y_tr, test_size=0.2,
                                                  random_state=VALIDATION_SEED)
    print(f"rows {len(y)}: train {len(y_tr)} (fit {len(y_fit)} + validation {len(y_val)}), "
          f"hold-out {len(y_te)}")

    # --- tuning on the validation split only ---
    best = None
    tuning = []
    for cfg in GRID:
        m = gbdt(cfg, MAX_TREES).fit(model_inputs(X_fit, cfg["coords"]), y_fit)
        staged = list(m.staged_predict(model_inputs(X_val, cfg["coords"])))
        curve = [r2_score(y_val, p) for p in staged]
        n = int(np.argmax(curve)) + 1
        tuning.append({**cfg, "best_trees": n, "validation_r2": round(float(curve[n - 1]), 6)})
        print(f"  {cfg} -> validation R2 {curve[n - 1]:.4f} at {n} trees")
        if best is None or curve[n - 1] > best[0]:
            best = (curve[n - 1], cfg, n, metrics(y_val, staged[n - 1]))
    _, cfg, n_trees, val_metrics = best
    print(f"chosen: {cfg}, {n_trees} trees")

    # --- final fit on all training rows, one look at the hold-out ---
    model = gbdt(cfg, n_trees).fit(model_inputs(X_tr, cfg["coords"]), y_tr)
    pred = model.predict(model_inputs(X_te, cfg["coords"]))
    holdout = metrics(y_te, pred)
    print(f"hold-out: {holdout}")

    # --- baseline: StandardScaler + SVR (RBF, defaults) on the same split ---
    svr = make_pipeline(StandardScaler(), SVR()).fit(X_tr, y_tr)
    baseline = metrics(y_te, svr.predict(X_te))
    print(f"SVR baseline hold-out: {baseline}")

    # --- ONNX export and self-check ---
    onnx_model = export_onnx.build_model(
        model, n_inputs=len(FEATURES), engineered_coordinates=cfg["coords"], lat_idx=LAT,
        lon_idx=LON, doc=f"{NAME} {VERSION}: California Housing median house value (100000 USD) "
        f"from {', '.join(f[0] for f in FEATURES)}")
    ONNX_OUT.write_bytes(onnx_model.SerializeToString())
    onnx_pred = export_onnx.evaluate(onnx_model, X_te)
    diff = np.abs(onnx_pred.astype(np.float64) - pred)
    print(f"ONNX (numpy float32 evaluation) vs sklearn: max |diff| {diff.max():.3g}")
    if diff.max() > 1e-4:
        sys.exit("ONNX export does not reproduce the sklearn model")
    summary = export_onnx.summary(onnx_model)

    # --- hold-out reference for the TypeScript parity test ---
    # X as float32 shortest repr: exactly the float32 values the model sees (parsing the decimal
    # into a JS double and storing it in a Float32Array gives the same float32, checked here).
    X32 = X_te.astype(np.float32)
    rows = [[float(np.format_float_positional(v, unique=True)) for v in r] for r in X32]
    assert np.array_equal(np.asarray(rows, dtype=np.float64).astype(np.float32), X32)
    HOLDOUT_OUT.parent.mkdir(parents=True, exist_ok=True)
    HOLDOUT_OUT.write_text(json.dumps({
        "indices": [int(i) for i in i_te],
        "X": rows,
        "y": [float(v) for v in y_te],
        "sklearn_pred": [float(v) for v in pred],
    }, separators=(",", ":")) + "\n")

    # --- model card ---
    onnx_sha = sha256(ONNX_OUT)
    previous = json.loads(CARD_OUT.read_text()) if CARD_OUT.exists() else {}
    unchanged = previous.get("sha256") == onnx_sha
    card = {
        "name": NAME,
        "version": VERSION,
        "sha256": onnx_sha,
        "features": [
            {"name": name, "unit": unit, "description": desc,
             "min": float(X_tr[:, j].min()), "max": float(X_tr[:, j].max())}
            for j, (name, unit, desc) in enumerate(FEATURES)
        ],
        "target": {"name": "MedHouseVal", "unit": "100000 USD",
                   "description": "median house value of the block group (capped at 5.00001)"},
        "data": {
            "file": "model/data/cal_housing.data",
            "sha256": sha256(DATA),
            "rows": int(len(y)),
            "split": (f"sklearn train_test_split(X, y, test_size=0.2, random_state={SPLIT_SEED}) "
                      f"over rows in file order: {len(y_tr)} training, {len(y_te)} hold-out rows; "
                      f"tuning on train_test_split(train, test_size=0.2, "
                      f"random_state={VALIDATION_SEED}) of the training rows "
                      f"({len(y_fit)} fit, {len(y_val)} validation)"),
        },
        "algorithm": "sklearn HistGradientBoostingRegressor (squared error)"
                     + (" on the 8 features plus rotated coordinates Latitude+Longitude and "
                        "Latitude-Longitude" if cfg["coords"] else ""),
        "hyperparameters": {
            "learning_rate": LEARNING_RATE, "max_iter": n_trees,
            "max_leaf_nodes": cfg["max_leaf_nodes"], "min_samples_leaf": cfg["min_samples_leaf"],
            "l2_regularization": cfg["l2_regularization"], "max_bins": 255,
            "early_stopping": False, "random_state": TREE_SEED,
            "engineered_features": ["Latitude+Longitude", "Latitude-Longitude"] if cfg["coords"]
            else [],
            "input_dtype": "float32",
            "tuning": {"selection": "highest validation R2 over configurations x number of trees "
                                    f"(1..{MAX_TREES})", "candidates": tuning},
        },
        "metrics": {"holdout": holdout, "validation": val_metrics},
        "baseline": {"algorithm": "StandardScaler + SVR (RBF)", "hyperparameters": "defaults",
                     "holdout": {k: baseline[k] for k in ("r2", "rmse", "mae")}},
        "onnx": {
            "file": "model/model.onnx",
            "bytes": ONNX_OUT.stat().st_size,
            "opset": export_onnx.OPSET,
            "ml_opset": export_onnx.ML_OPSET,
            "input": {"name": "input", "type": "float32", "shape": ["N", len(FEATURES)]},
            "output": {"name": "house_value", "type": "float32", "shape": ["N", 1]},
            "trees": summary["trees"],
            "leaves": summary["leaves"],
            "nodes": summary["nodes"],
            "max_abs_diff_vs_sklearn_holdout": float(f"{diff.max():.3g}"),
        },
        # Filled by bench/model-bench.ts; kept while model.onnx is byte-identical.
        "inference": previous.get("inference") if unchanged else None,
        "created": previous.get("created") if unchanged and previous.get("created")
        else datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sklearn_version": sklearn.__version__,
    }
    CARD_OUT.write_text(js_json(card) + "\n")
    format_with_prettier(CARD_OUT)
    print(f"wrote {ONNX_OUT.relative_to(ROOT)} ({ONNX_OUT.stat().st_size} bytes, "
          f"{summary['trees']} trees, {summary['leaves']} leaves), {CARD_OUT.relative_to(ROOT)}, "
          f"{HOLDOUT_OUT.relative_to(ROOT)} ({HOLDOUT_OUT.stat().st_size} bytes) "
          f"in {time.time() - t0:.0f} s")
    if not unchanged:
        print("model.onnx changed: run `node --import tsx bench/model-bench.ts` to fill `inference`")


if __name__ == "__main__":
    main()
