"""Reference results from XGBoost and scikit-learn for xgboost_test.go.

Usage: python3 xgboost_reference.py DIR

DIR holds meta.json ({"rows", "cols", "train_rows", "names", "score_sets"}),
x.f32 and y.f32 (little-endian float32, row-major, NaN = missing), and
scores_<k>.f64 / labels_<k>.u8 for k < score_sets. For every model spec in
MODELS this trains XGBoost on the first train_rows rows, saves
<name>.json and writes, for all rows, <name>_pred.f64 (probabilities),
<name>_margin.f64, <name>_shap.f64 (pred_contribs) and <name>_saabas.f64
(approx_contribs). It then writes metrics.json: scikit-learn's
average_precision_score and roc_auc_score of every score set.
"""
import json
import os
import sys

import numpy as np
import sklearn.metrics
import xgboost as xgb

MODELS = {
    # Histogram method, a base score other than 0.5, feature names saved.
    "hist": dict(params={"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
                         "eta": 0.3, "base_score": 0.3, "seed": 1}, rounds=30, names=True),
    # Exact method (thresholds between values), deeper, subsampled.
    "exact": dict(params={"objective": "binary:logistic", "tree_method": "exact", "max_depth": 6,
                          "eta": 0.2, "subsample": 0.8, "colsample_bytree": 0.8, "gamma": 0.1,
                          "seed": 2}, rounds=20, names=False),
}


def main(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    rows, cols, train = meta["rows"], meta["cols"], meta["train_rows"]
    x = np.fromfile(os.path.join(d, "x.f32"), dtype="<f4").reshape(rows, cols)
    y = np.fromfile(os.path.join(d, "y.f32"), dtype="<f4")
    for name, spec in MODELS.items():
        names = meta["names"] if spec["names"] else None
        dtrain = xgb.DMatrix(x[:train], label=y[:train], missing=np.nan, feature_names=names)
        booster = xgb.train(spec["params"], dtrain, spec["rounds"])
        booster.save_model(os.path.join(d, name + ".json"))
        dall = xgb.DMatrix(x, missing=np.nan, feature_names=names)
        outputs = {
            "pred": booster.predict(dall),
            "margin": booster.predict(dall, output_margin=True),
            "shap": booster.predict(dall, pred_contribs=True),
            "saabas": booster.predict(dall, pred_contribs=True, approx_contribs=True),
        }
        for kind, values in outputs.items():
            np.asarray(values, dtype="<f8").tofile(os.path.join(d, "%s_%s.f64" % (name, kind)))
    metrics = []
    for k in range(meta["score_sets"]):
        s = np.fromfile(os.path.join(d, "scores_%d.f64" % k), dtype="<f8")
        l = np.fromfile(os.path.join(d, "labels_%d.u8" % k), dtype="u1")
        metrics.append({"auprc": sklearn.metrics.average_precision_score(l, s),
                        "roc_auc": sklearn.metrics.roc_auc_score(l, s)})
    json.dump(metrics, open(os.path.join(d, "metrics.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1])
