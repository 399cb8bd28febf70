"""Governance (C16–C19): the monthly settlement file, board decisions, equity
safeguards, independent assurance, and the reports and dashboards people read."""
