"""Training configs (``opl fit --config``)."""
