"""Baseline servers run beside the product in the same bench run (see docs/performance.md)."""
