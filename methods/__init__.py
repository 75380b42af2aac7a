"""rectbench: methods."""
