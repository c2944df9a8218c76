"""``server.py bench``: latency benchmark of the transports on the same frames (docs/benchmarks.md)."""
