"""rtbench.slo."""
