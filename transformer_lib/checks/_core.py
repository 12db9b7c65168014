"""What every checker shares: `CheckResult`, the `_checker` decorator that turns a body raising
`_Fail` into one printed line, and the helpers that call the learner's code and compare its answers."""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

PASSED, FAILED = "[passed]", "[failed]"


@dataclass(frozen=True)
class CheckResult:
    """What a checker found: `passed` and the one-line `message` it printed."""

    task: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{PASSED if self.passed else FAILED} {self.task}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """The line is already printed; a check cell that ends with the call shows nothing more."""


class _Fail(Exception):
    """Raised inside a checker to report the first thing wrong."""


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _checker(task: str):
    """Turn `body(*args) -> success message` (raising _Fail) into a checker that prints one line."""

    def wrap(body: Callable[..., str]) -> Callable[..., CheckResult]:
        @functools.wraps(body)
        def run(*args, **kwargs) -> CheckResult:
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    result = CheckResult(task, True, body(*args, **kwargs))
            except _Fail as failure:
                result = CheckResult(task, False, _one_line(failure.args[0]))
            except Exception as exc:  # noqa: BLE001  an object so odd that the checker tripped on it
                result = CheckResult(task, False, _one_line(f"the check could not run: {_describe(exc)}"))
            print(result)
            return result

        return run

    return wrap


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(value: object) -> str:
    if value is None:
        return "None (did you forget `return`?)"
    name = type(value).__name__
    return f"an {name}" if name[0].lower() in "aeiou" else f"a {name}"


def _call(fn: Callable, *args, **kwargs):
    """Run the learner's code with its printing swallowed; its exceptions become failures."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise _Fail(
            "your code raised NotImplementedError: fill in the cell above, then run it again"
        ) from None
    except Exception as exc:  # noqa: BLE001  the learner's own error, reported in words
        raise _Fail(f"your code raised {_describe(exc)}") from None


def _need_callable(fn: object, what: str = "a function") -> None:
    if not callable(fn):
        raise _Fail(f"expected {what}, got {_kind(fn)}")


def _tensor(value: object, what: str = "your function") -> Tensor:
    if not isinstance(value, torch.Tensor):
        raise _Fail(f"{what} returned {_kind(value)}, expected a torch.Tensor")
    return value


def _pair(value: object, first: str, second: str) -> tuple[Tensor, Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise _Fail(f"your function returned {_kind(value)}, expected a tuple ({first}, {second})")
    return _tensor(value[0], f"the {first} your function"), _tensor(value[1], f"the {second} your function")


def _shape(name: str, got: Tensor, expected: tuple[int, ...], case: str, hint: str = "") -> None:
    if tuple(got.shape) != tuple(expected):
        raise _Fail(f"{case}: {name} has shape {tuple(got.shape)}, expected {tuple(expected)}{hint}")


def _close(
    name: str,
    got: Tensor,
    expected: Tensor,
    case: str,
    diagnoses: tuple[tuple[Tensor, str], ...] = (),
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> None:
    """Compare values; name a known mistake when the learner's values match it."""
    _shape(name, got, tuple(expected.shape), case)
    got = got.detach()
    if got.is_complex() or got.dtype == torch.bool:
        raise _Fail(f"{case}: {name} has dtype {got.dtype}, expected floating-point values")
    got = got.double()
    expected = expected.detach().double()
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise _Fail(f"{case}: {name} contains NaN")
    if torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
        return
    for wrong, hint in diagnoses:
        if wrong.shape == got.shape and torch.allclose(got, wrong.double(), atol=atol, rtol=rtol):
            raise _Fail(f"{case}: {name} is wrong: {hint}")
    finite = torch.isfinite(got) & torch.isfinite(expected)
    if not torch.equal(torch.isfinite(got), torch.isfinite(expected)):
        raise _Fail(f"{case}: {name} has infinite values in other places than expected")
    diff = float((got - expected).abs()[finite].max())
    raise _Fail(f"{case}: {name} values differ from the reference by up to {diff:.4g}")


def _bool_mask(mask: Tensor, case: str) -> None:
    if mask.dtype != torch.bool:
        raise _Fail(
            f"{case}: the mask has dtype {mask.dtype}, expected torch.bool (True = may attend); "
            f"a comparison such as `tokens != pad_id` gives one"
        )


def _randn(*shape: int) -> Tensor:
    return torch.randn(*shape)


def _build(cls: object, *args) -> nn.Module:
    _need_callable(cls, "a class")
    module = _call(cls, *args)
    if not isinstance(module, nn.Module):
        raise _Fail(f"your class built {_kind(module)}, expected an nn.Module (subclass nn.Module)")
    return module


def _copy_weights(mine: nn.Module, reference: nn.Module, what: str) -> None:
    """Load the reference's weights into the learner's module (same attribute names)."""
    expected, have = set(reference.state_dict()), set(mine.state_dict())
    if expected - have:
        missing = ", ".join(sorted(expected - have)[:4])
        raise _Fail(f"your {what} lacks the parameters {missing}: use the attribute names given in the task")
    if have - expected:
        extra = ", ".join(sorted(have - expected)[:4])
        raise _Fail(f"your {what} has parameters the task does not ask for: {extra}")
    try:
        mine.load_state_dict(reference.state_dict())
    except RuntimeError as exc:
        first = _one_line(str(exc).split("\n\t", 1)[-1], 160)
        raise _Fail(f"your {what} has parameters of the wrong shape ({first})") from None
