"""rectbench: reports."""
