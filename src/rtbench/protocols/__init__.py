"""rtbench.protocols."""
