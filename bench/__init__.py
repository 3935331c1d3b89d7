"""Benchmarks for the chat hub (``make bench``)."""
