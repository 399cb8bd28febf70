"""Governance actions: the only way governance records change (one audit record each)."""
