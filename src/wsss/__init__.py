"""wsss: weakly supervised semantic segmentation from image-level labels."""

import os

# Idle OpenMP threads sleep instead of spinning: on a small, shared CPU, spinning threads of
# two processes (or of loader workers) stall each other by an order of magnitude.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
