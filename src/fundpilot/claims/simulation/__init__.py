"""The claims pass of the synthetic history (see fundpilot.claims.simulate)."""
