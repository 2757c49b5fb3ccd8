"""Generator configs (``opl generate``)."""
