"""Finite-element PDE solvers (scikit-fem) and their dataset generators."""
