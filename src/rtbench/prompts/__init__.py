"""What rtbench sends: prompt texts sized in tokens, and how tokens are counted (pure)."""
