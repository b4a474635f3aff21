"""Hand-written ONNX export of a fitted HistGradientBoostingRegressor (skl2onnx is not needed).

Graph (all float32):

    input [N, 8]  --Gather(6)--> lat [N, 1] --+--Add--> lat_plus_lon  [N, 1]
                  --Gather(7)--> lon [N, 1] --+--Sub--> lat_minus_lon [N, 1]
    Concat(input, lat_plus_lon, lat_minus_lon) -> features [N, 10]
    ai.onnx.ml TreeEnsembleRegressor(features) -> house_value [N, 1]

The two rotated coordinates are only added when the model was trained with them
(see `engineered_coordinates` in train.py); without them the ensemble reads `input` directly.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # default domain: Gather, Add, Sub, Concat
ML_OPSET = 3  # ai.onnx.ml: TreeEnsembleRegressor with nodes_missing_value_tracks_true


def threshold_to_float32(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= each float64 threshold.

    For every float32 input x:  x <= t  <=>  x <= threshold_to_float32(t),
    so BRANCH_LEQ on float32 inputs makes exactly sklearn's float64 decision.
    (Plain rounding to nearest could round a threshold up past a float32 input.)
    """
    t = np.asarray(t, dtype=np.float64)
    t32 = t.astype(np.float32)
    too_big = t32.astype(np.float64) > t
    t32[too_big] = np.nextafter(t32[too_big], np.float32(-np.inf))
    return t32


def tree_arrays(model) -> dict:
    """Flatten the ensemble into the TreeEnsembleRegressor attribute arrays."""
    a: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for tree_id, predictors in enumerate(model._predictors):
        (predictor,) = predictors  # one predictor per iteration for single-output regression
        nodes = predictor.nodes
        if np.any(nodes["is_categorical"]):
            raise ValueError("categorical splits are not supported by this exporter")
        thresholds = threshold_to_float32(nodes["num_threshold"])
        for node_id, node in enumerate(nodes):
            leaf = bool(node["is_leaf"])
            a["nodes_treeids"].append(tree_id)
            a["nodes_nodeids"].append(node_id)
            a["nodes_featureids"].append(0 if leaf else int(node["feature_idx"]))
            a["nodes_values"].append(0.0 if leaf else float(thresholds[node_id]))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(node["left"]))
            a["nodes_falsenodeids"].append(0 if leaf else int(node["right"]))
            a["nodes_missing_value_tracks_true"].append(0 if leaf else int(node["missing_go_to_left"]))
            if leaf:
                a["target_treeids"].append(tree_id)
                a["target_nodeids"].append(node_id)
                a["target_ids"].append(0)
                a["target_weights"].append(float(node["value"]))
    return a


def coordinate_nodes(input_name: str, lat_idx: int, lon_idx: int) -> tuple[list, list, str]:
    """Nodes adding the rotated coordinates lat+lon and lat-lon to `input`; returns
    (nodes, initializers, name of the [N, n_inputs + 2] features tensor)."""
    initializers = [
        helper.make_tensor("lat_idx", TensorProto.INT64, [1], [lat_idx]),
        helper.make_tensor("lon_idx", TensorProto.INT64, [1], [lon_idx]),
    ]
    nodes = [
        helper.make_node("Gather", [input_name, "lat_idx"], ["lat"], axis=1, name="gather_latitude"),
        helper.make_node("Gather", [input_name, "lon_idx"], ["lon"], axis=1, name="gather_longitude"),
        helper.make_node("Add", ["lat", "lon"], ["lat_plus_lon"], name="lat_plus_lon"),
        helper.make_node("Sub", ["lat", "lon"], ["lat_minus_lon"], name="lat_minus_lon"),
        helper.make_node("Concat", [input_name, "lat_plus_lon", "lat_minus_lon"], ["features"],
                         axis=1, name="concat_features"),
    ]
    return nodes, initializers, "features"


def ensemble_node(model, input_name: str, output_name: str, name: str) -> onnx.NodeProto:
    """One fitted HistGradientBoostingRegressor as a TreeEnsembleRegressor giving its raw
    prediction (baseline + sum of leaves; for loss="poisson" that is the log of the prediction)."""
    baseline = float(np.ravel(model._baseline_prediction)[0])
    return helper.make_node(
        "TreeEnsembleRegressor", [input_name], [output_name], domain="ai.onnx.ml",
        name=name, n_targets=1, aggregate_function="SUM", post_transform="NONE",
        base_values=[baseline], **tree_arrays(model))


def finish_model(nodes, graph_name, inputs, outputs, initializers, doc) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, graph_name, inputs=inputs, outputs=outputs,
                              initializer=initializers)
    m = helper.make_model(graph, producer_name="model/train/export_onnx.py", doc_string=doc,
                          opset_imports=[helper.make_opsetid("", OPSET),
                                         helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
    onnx.checker.check_model(m, full_check=True)
    return m


def build_model(model, n_inputs: int, engineered_coordinates: bool, lat_idx: int, lon_idx: int,
                input_name: str = "input", output_name: str = "house_value",
                doc: str = "") -> onnx.ModelProto:
    nodes = []
    initializers = []
    ensemble_input = input_name
    if engineered_coordinates:
        nodes, initializers, ensemble_input = coordinate_nodes(input_name, lat_idx, lon_idx)
    nodes.append(ensemble_node(model, ensemble_input, output_name, "gbdt"))
    return finish_model(
        nodes, "california_housing_gbdt",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_inputs])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", 1])],
        initializers, doc)


def build_interval_model(centre, scale, edges: np.ndarray, q_table: np.ndarray, n_inputs: int,
                         lat_idx: int, lon_idx: int, doc: str = "") -> onnx.ModelProto:
    """Normalised, Mondrian split-conformal intervals for every level in one graph:

        features = input + rotated coordinates (as in model.onnx)
        centre [N,1] = TreeEnsemble(centre model);  scale [N,1] = Exp(TreeEnsemble(scale model))
        bin [N] = number of `edges` <= centre      (the calibration bin of the row)
        half [N,L] = q_table[bin] * scale           (q_table [bins, L]: calibrated quantiles)
        low  = Min(centre - half, house_value);  high = Max(centre + half, house_value)

    `house_value` [N,1] is the served point prediction (model.onnx's output): every interval
    contains it, whatever the centre model says."""
    nodes, initializers, features = coordinate_nodes("input", lat_idx, lon_idx)
    initializers += [
        numpy_helper.from_array(np.asarray(edges, dtype=np.float32), "bin_edges"),
        numpy_helper.from_array(np.asarray(q_table, dtype=np.float32), "q_table"),
        helper.make_tensor("sum_axis", TensorProto.INT64, [1], [1]),
    ]
    levels = q_table.shape[1]
    nodes += [
        ensemble_node(centre, features, "centre", "centre_gbdt"),
        ensemble_node(scale, features, "log_scale", "scale_gbdt"),
        helper.make_node("Exp", ["log_scale"], ["scale"], name="scale"),
        helper.make_node("GreaterOrEqual", ["centre", "bin_edges"], ["above_edge"], name="above_edge"),
        helper.make_node("Cast", ["above_edge"], ["above_edge_f"], to=TensorProto.FLOAT, name="edge_count_f"),
        helper.make_node("ReduceSum", ["above_edge_f", "sum_axis"], ["bin_f"], keepdims=0, name="bin_f"),
        helper.make_node("Cast", ["bin_f"], ["bin"], to=TensorProto.INT64, name="bin"),
        helper.make_node("Gather", ["q_table", "bin"], ["q"], axis=0, name="q_of_bin"),
        helper.make_node("Mul", ["q", "scale"], ["half_width"], name="half_width"),
        helper.make_node("Sub", ["centre", "half_width"], ["raw_low"], name="raw_low"),
        helper.make_node("Add", ["centre", "half_width"], ["raw_high"], name="raw_high"),
        helper.make_node("Min", ["raw_low", "house_value"], ["low"], name="low"),
        helper.make_node("Max", ["raw_high", "house_value"], ["high"], name="high"),
    ]
    value = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    return finish_model(
        nodes, "california_housing_intervals",
        [value("input", ["N", n_inputs]), value("house_value", ["N", 1])],
        [value("low", ["N", levels]), value("high", ["N", levels])], initializers, doc)


def _ensembles(m: onnx.ModelProto) -> dict[str, tuple[dict, onnx.NodeProto]]:
    return {n.output[0]: ({a.name: helper.get_attribute_value(a) for a in n.attribute}, n)
            for n in m.graph.node if n.op_type == "TreeEnsembleRegressor"}


def _attrs(m: onnx.ModelProto) -> tuple[dict, onnx.NodeProto]:
    (only,) = _ensembles(m).values()
    return only


def _features(m: onnx.ModelProto, X: np.ndarray, ensemble_input: str) -> np.ndarray:
    x = np.asarray(X, dtype=np.float32)
    if ensemble_input != m.graph.input[0].name:  # engineered coordinates
        inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        lat = x[:, inits["lat_idx"]]
        lon = x[:, inits["lon_idx"]]
        x = np.concatenate([x, lat + lon, lat - lon], axis=1)  # float32 arithmetic
    return x


def _walk(attrs: dict, x: np.ndarray) -> np.ndarray:
    """Raw ensemble output for float32 rows `x`: leaves summed in float32, like onnxruntime."""
    tree = np.asarray(attrs["nodes_treeids"])
    feat = np.asarray(attrs["nodes_featureids"])
    thr = np.asarray(attrs["nodes_values"], dtype=np.float32)
    leaf = np.asarray([s == b"LEAF" for s in attrs["nodes_modes"]])
    left = np.asarray(attrs["nodes_truenodeids"])
    right = np.asarray(attrs["nodes_falsenodeids"])
    miss_left = np.asarray(attrs["nodes_missing_value_tracks_true"]).astype(bool)
    weight = np.zeros(len(tree), dtype=np.float32)
    starts = np.searchsorted(tree, np.arange(tree.max() + 1))
    t_tree = np.asarray(attrs["target_treeids"])
    t_node = np.asarray(attrs["target_nodeids"])
    weight[starts[t_tree] + t_node] = np.asarray(attrs["target_weights"], dtype=np.float32)
    rows = np.arange(len(x))
    out = np.zeros(len(x), dtype=np.float32)
    for start in starts:
        node = np.full(len(x), start)
        while True:
            active = ~leaf[node]
            if not active.any():
                break
            n = node[active]
            v = x[rows[active], feat[n]]
            go_left = np.where(np.isnan(v), miss_left[n], v <= thr[n])
            node[active] = start + np.where(go_left, left[n], right[n])
        out += weight[node]
    return out + np.float32(attrs["base_values"][0])


def evaluate(m: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """Reference evaluation of the exported graph in numpy, with float32 semantics like onnxruntime.

    Used by train.py as a self-check (onnxruntime is not installed for Python here);
    the decisive parity check is tests/unit/model.test.ts in onnxruntime-node.
    """
    attrs, ens = _attrs(m)
    return _walk(attrs, _features(m, X, ens.input[0]))


def evaluate_intervals(m: onnx.ModelProto, X: np.ndarray,
                       house_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy float32 evaluation of build_interval_model's graph: (low, high), each [N, levels]."""
    ens = _ensembles(m)
    x = _features(m, X, ens["centre"][1].input[0])
    centre = _walk(ens["centre"][0], x)[:, None]
    scale = np.exp(_walk(ens["log_scale"][0], x))[:, None]
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    q = inits["q_table"][(centre >= inits["bin_edges"]).sum(axis=1)]
    half = q * scale
    point = np.asarray(house_value, dtype=np.float32).reshape(-1, 1)
    return np.minimum(centre - half, point), np.maximum(centre + half, point)


def summary(m: onnx.ModelProto, output: str | None = None) -> dict:
    ensembles = _ensembles(m)
    attrs, _ = ensembles[output] if output else _attrs(m)
    modes = attrs["nodes_modes"]
    return {
        "trees": int(max(attrs["nodes_treeids"]) + 1),
        "leaves": int(sum(1 for s in modes if s == b"LEAF")),
        "nodes": len(modes),
    }
