"""Unit tests use tiny tensors: one thread each is faster than two, and lets pytest-xdist run two
test processes side by side on a 2-core machine."""

import torch

torch.set_num_threads(1)
