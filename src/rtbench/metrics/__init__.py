"""rtbench.metrics."""
