"""rectbench: metrics."""
