"""Input checks shared by the library: each raises an error that names the argument, what was
expected and what was given, so a learner never has to read a stack trace from inside torch."""

from __future__ import annotations

import torch
from torch import Tensor


def check_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_float(name: str, value: object) -> Tensor:
    tensor = check_tensor(name, value)
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (activations), got dtype {tensor.dtype}")
    return tensor


def check_tokens(name: str, value: object) -> Tensor:
    """Token ids: a (B, T) integer tensor."""
    tensor = check_tensor(name, value)
    if tensor.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {tensor.dtype}")
    if tensor.dim() != 2:
        raise ValueError(f"{name} must have shape (B, T), got {tuple(tensor.shape)}")
    if tensor.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one token per row, got shape {tuple(tensor.shape)}")
    return tensor


def check_same_dtype(name: str, tensor: Tensor, dtype: torch.dtype, other: str) -> None:
    if tensor.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of {other}, {dtype}, got {tensor.dtype}")


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_ndim(name: str, tensor: Tensor, ndim: int, layout: str) -> None:
    if tensor.dim() != ndim:
        raise ValueError(f"{name} must have shape {layout}, got {tuple(tensor.shape)}")


def check_last_dim(name: str, tensor: Tensor, size: int, what: str = "d_model") -> None:
    if tensor.shape[-1] != size:
        raise ValueError(f"{name} must have last dimension {what}={size}, got shape {tuple(tensor.shape)}")


def check_mask(name: str, mask: object, target: tuple[int, ...], layout: str) -> Tensor:
    """A boolean mask (True = may attend) that broadcasts to `target`."""
    tensor = check_tensor(name, mask)
    if tensor.dtype != torch.bool:
        raise TypeError(
            f"{name} must be a bool tensor (True = may attend), got dtype {tensor.dtype}; "
            f"use mask.bool() or a comparison such as tokens != pad_id"
        )
    shape = tuple(tensor.shape)
    broadcasts = len(shape) <= len(target) and all(
        size in (1, want) for size, want in zip(reversed(shape), reversed(target), strict=False)
    )  # the rule of torch.broadcast_shapes(shape, target) == target, without its cost in the hot path
    if not broadcasts:
        raise ValueError(
            f"{name} of shape {tuple(tensor.shape)} does not broadcast to {layout} = {tuple(target)}"
        )
    return tensor


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def check_probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)
