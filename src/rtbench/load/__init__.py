"""rtbench.load."""
