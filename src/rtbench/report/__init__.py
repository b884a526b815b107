"""rtbench.report."""
