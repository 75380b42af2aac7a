"""rectbench: bench."""
