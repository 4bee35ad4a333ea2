"""Choosing hyper-parameters: search spaces, grid/random/Optuna search, cross-validation."""
