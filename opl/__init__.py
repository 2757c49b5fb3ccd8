"""opl: operator learning for PDEs."""
