// Package model is the trained part of Kassa's fraud engine: it learns a
// function from a payment's features to the probability that it is fraud,
// saves it as a versioned file, loads such files back (or XGBoost's), and
// explains each score by per-feature contributions.
//
// # Algorithms
//
// TrainGBDT fits gradient-boosted decision trees with the second-order
// (Newton) method of XGBoost on the logistic loss. Features are cut once
// into at most 255 quantile bins (plus one bin for missing values); each
// node's split is found from per-bin sums of gradients and hessians, built
// for the smaller child only (the larger one is the parent's minus it) and
// in parallel over features. A split's gain is
//
//	G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)
//
// and it is taken when that exceeds Gamma while both children keep
// MinChildWeight of hessian and MinRowsPerLeaf rows; a leaf's value is
// −G/(H+λ) times the learning rate. Missing values (NaN) learn a default
// direction: every candidate split is tried with them on either side. Rows
// and columns can be subsampled per tree with a seeded generator, positives
// weighted by ScalePosWeight, and training can stop early on a validation
// set. The same data, configuration and Clock give the same model, byte
// for byte, whatever the number of workers.
//
// TrainLogistic fits L2-regularized logistic regression on standardized
// features with L-BFGS (deterministic: full batches, summed in a fixed
// order). Missing values are imputed with the training mean.
//
// LoadXGBoost reads a model XGBoost saved as JSON (binary:logistic, gbtree)
// and predicts what XGBoost predicts.
//
// # Prediction and contributions
//
// Trees live in one flat array per model, children of a node next to each
// other, so Predict walks memory forward without allocating. A row goes
// left at a split when x < threshold (compared as float32, as XGBoost
// does) and missing values follow the split's default direction.
//
// Contributions explains a score as log-odds per feature that sum to the
// margin: for trees the Saabas path attribution (each split on the row's
// path credits its feature with the change in the expected value of the
// node, expected values being cover-weighted means of the leaves below;
// XGBoost calls this approx_contribs), for logistic regression w·z per
// standardized feature. It costs as much as a prediction and belongs in
// the request path. ExactContributions computes exact TreeSHAP values
// (Lundberg et al., XGBoost's pred_contribs); it is an order of magnitude
// slower and meant for offline explanations.
//
// # Model files
//
// A model file is one JSON object:
//
//	{
//	  "format": "kassa-model/1",
//	  "version": "gbdt-20260102T150405-1a2b3c4d",
//	  "algo": "gbdt",                  // "gbdt", "logistic" or "xgboost"
//	  "feature_names": ["amount", ...],
//	  "created": "2026-01-02T15:04:05Z",
//	  "trained_on": 200000,            // rows
//	  "params": {...},                 // the training configuration
//	  "metrics": {...},                // optional, on the validation set
//	  "base_margin": -3.1,             // trees: log-odds before any tree
//	  "trees": [{                      // trees: parallel arrays by node, root first
//	    "left": [1, -1, -1],           // left child, -1 for a leaf
//	    "right": [2, -1, -1],
//	    "feature": [0, -1, -1],        // split feature index, -1 for a leaf
//	    "threshold": [0.5, 0, 0],      // x < threshold goes left (float32)
//	    "default_left": [true, false, false], // where missing values go
//	    "value": [0, -0.2, 0.3],       // leaf values in log-odds
//	    "cover": [100, 60, 40]         // training hessian through each node
//	  }],
//	  "linear": {                      // logistic: margin = intercept + Σ w·(x−mean)/scale
//	    "intercept": -3.2, "weights": [...], "means": [...], "scales": [...]
//	  }
//	}
//
// Files come from users, so Load trusts nothing: it checks the format
// string, sizes (at most 64 MiB, 5,000 trees, 65,536 nodes per tree, depth
// 64, 1,000 features), that every node index is in range and every node is
// reached exactly once from the root (no cycles, no shared or orphaned
// nodes), feature indices, and that every number is finite and within
// bounds no real model comes near (|log-odds| ≤ 10⁶, covers ≤ 10¹⁸), so
// that no prediction or contribution of a loaded model can overflow.
// Errors about a file's content wrap ErrInvalid.
package model
