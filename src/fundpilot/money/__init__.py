"""Money (C12–C15, C20): the double-entry ledger, contributions and decision rights,
payment runs, reconciliation, variance and stop-loss, and the exit unwind."""
