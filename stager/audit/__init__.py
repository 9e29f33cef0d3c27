"""Auditing past runs from the ledger: verify their records and artifacts, compare two runs, report costs."""
