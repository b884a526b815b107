"""rtbench.transports."""
