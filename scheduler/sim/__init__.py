"""Simulated benches: the bench-file simulation server, in-process simulated slots, the
demo and the papers' reproductions."""
