"""rtbench.cli."""
