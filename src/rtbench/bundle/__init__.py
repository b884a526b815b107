"""rtbench.bundle."""
