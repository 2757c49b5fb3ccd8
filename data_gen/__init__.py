"""opl data generation: PDE solvers and the dataset writer (numpy only; never imports torch)."""
