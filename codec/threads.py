"""How the encoder's parallel loops (numba ``prange``: codec/range_coding.py, codec/spherical_kernels.py)
share the machine. Both import this before numba starts its threads.

numba runs them on OpenMP where the machine has it (else its own work queue). OpenMP's threads spin after
each loop by default, waiting for the next: CPU that a producer shares with the streamer and, on a small
machine, with a browser. Measured with a Chromium viewer on this 2-core machine: 281 ms a frame spinning,
124 ms waiting passively, 137 ms on one thread (docs/design.md, "The encoder on every core"). A setting
of the user's own wins.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
