"""Structured-grid PDE solvers and their dataset generators."""
