"""Fit, cross-validate and evaluate models; write model versions into the store."""
