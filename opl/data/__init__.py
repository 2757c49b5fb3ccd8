"""Readers of the opl dataset format."""
