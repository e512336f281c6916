"""Progressive delivery: A/B analysis, off-policy estimates and the controller's decisions."""
