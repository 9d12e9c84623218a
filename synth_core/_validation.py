"""One checker for constructor parameters, with scikit-learn's wording.

A class declares what each parameter may be, once, as data::

    class CrossFitCheck(BaseEstimator):
        _parameter_constraints = {
            "folds": [Interval(int, 2, 20)],
            "repeats": [Interval(int, 1, None), Options(("auto",))],
            "random_state": [Interval(int, 0, None)],
        }

and calls :func:`check_params` when ``fit`` starts (never in ``__init__``, which
only stores). A value that meets none of its parameter's constraints raises
:class:`~synth_core.errors.InvalidParameterError`, worded for every class alike:

    The 'folds' parameter of CrossFitCheck must be an int in [2, 20]. Got 1 instead.

Constraints (a parameter's entry is one constraint or a list of them; the value
must meet at least one):

==================================== ==========================================================
``Interval(int, 1, None)``           an int >= 1 (``bool`` is not an int here)
``Interval(float, 0, 1, closed=..)`` a finite float (ints too) in [0, 1]; ``closed`` is
                                     'both' (default), 'left', 'right' or 'neither';
                                     ``finite=False`` admits the infinities the bounds leave open
``Options(("a", "b"))``              one of these values
``Bool``                             True or False (numpy's too)
``Callable``                         anything callable
``None``                             None itself
``InstanceOf(cls, ..., what=...)``   an instance of one of the classes
``HasMethods("fit", "predict")``     an object with these methods (an estimator)
``ListOf(constraint, min_length=1)`` a list or tuple whose items each meet ``constraint``
``RANDOM_STATE``                     (a list) an int >= 0, a numpy RandomState or None
==================================== ==========================================================

Why not ``sklearn.utils._param_validation``: it is private to scikit-learn and
may change in any release; this module is small and ours.

Examples
--------
>>> from sklearn.base import BaseEstimator
>>> class Demo(BaseEstimator):
...     _parameter_constraints = {"k": [Interval(int, 1, None)], "mode": [Options(("fast", "exact")), None]}
...     def __init__(self, *, k=3, mode="fast"):
...         self.k, self.mode = k, mode
>>> check_params(Demo(k=2))
>>> check_params(Demo(k=0))
Traceback (most recent call last):
...
synth_core.errors.InvalidParameterError: The 'k' parameter of Demo must be an int >= 1. Got 0 instead.
>>> describe_constraints(Demo._parameter_constraints["mode"])
"a str among {'fast', 'exact'} or None"
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import InvalidParameterError

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "Bool",
    "Callable",
    "InstanceOf",
    "HasMethods",
    "ListOf",
    "RANDOM_STATE",
    "check_params",
    "describe_constraints",
]

_MAX_SHOWN = 200  # characters of a refused value's repr in the message


class Constraint:
    """Base class: ``is_satisfied_by(value)`` and ``str()`` (what a person reads after "must be")."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError

    def parts(self) -> list[str]:
        """The alternatives this constraint allows, for a list joined by commas and a final "or"."""
        return [str(self)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


class Interval(Constraint):
    """Numbers of one type between two bounds.

    Parameters
    ----------
    type : int or float
        ``int``: integral numbers (numpy's too), never ``bool``. ``float``: any
        real number (ints included), never ``bool`` or NaN.
    low, high : number or None
        Bounds; None leaves that side open.
    closed : {'both', 'left', 'right', 'neither'}, default='both'
        Which bounds belong to the interval.
    finite : bool, default=True
        With False, ``inf`` (when ``high`` is None) and ``-inf`` (when ``low``
        is None) are admitted as well.
    """

    def __init__(self, type: type, low, high, *, closed: str = "both", finite: bool = True):
        if type not in (int, float):
            raise TypeError("Interval type must be int or float")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError("closed must be 'both', 'left', 'right' or 'neither'")
        if low is not None and high is not None and low > high:
            raise ValueError("low must not exceed high")
        self.type, self.low, self.high, self.closed, self.finite = type, low, high, closed, finite

    def is_satisfied_by(self, value) -> bool:
        if _is_bool(value):
            return False
        if self.type is int and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real):
            return False
        v = float(value) if self.type is float else value
        if isinstance(v, float) and not math.isfinite(v):
            if math.isnan(v) or self.finite:
                return False
            return (v > 0 and self.high is None) or (v < 0 and self.low is None)
        left_closed, right_closed = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (v < self.low or (v == self.low and not left_closed)):
            return False
        if self.high is not None and (v > self.high or (v == self.high and not right_closed)):
            return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.type is int else "a float"
        left_closed, right_closed = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            left, right = "[" if left_closed else "(", "]" if right_closed else ")"
            text = f"{kind} in {left}{self.low!r}, {self.high!r}{right}"
        elif self.low is not None:
            text = f"{kind} {'>=' if left_closed else '>'} {self.low!r}"
        elif self.high is not None:
            text = f"{kind} {'<=' if right_closed else '<'} {self.high!r}"
        else:
            text = kind
        if not self.finite:
            infinities = [
                s for s, unbounded in (("inf", self.high is None), ("-inf", self.low is None)) if unbounded
            ]
            if infinities:
                text += f" ({' and '.join(infinities)} allowed)"
        return text


class Options(Constraint):
    """One of a few values (compared with ``==``; ``True`` is not taken for ``1``).

    A set is shown sorted; a tuple or list in its own order.
    """

    def __init__(self, values):
        values = sorted(values, key=repr) if isinstance(values, (set, frozenset)) else list(values)
        if not values:
            raise ValueError("Options needs at least one value")
        self.values = tuple(values)

    def is_satisfied_by(self, value) -> bool:
        for option in self.values:
            if _is_bool(value) != _is_bool(option):
                continue
            try:
                if bool(value == option):
                    return True
            except (TypeError, ValueError):  # an array, or a value whose == cannot be a bool
                continue
        return False

    def __str__(self) -> str:
        shown = "{" + ", ".join(repr(v) for v in self.values) + "}"
        return f"a str among {shown}" if all(isinstance(v, str) for v in self.values) else f"one of {shown}"


class _Bool(Constraint):
    def is_satisfied_by(self, value) -> bool:
        return _is_bool(value)

    def __str__(self) -> str:
        return "a bool"


class _Callable(Constraint):
    def is_satisfied_by(self, value) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return "a callable"


#: True or False (``numpy.bool_`` too; 0 and 1 are not).
Bool = _Bool()
#: Anything callable (a function, a lambda, an object with ``__call__``).
Callable = _Callable()


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


class InstanceOf(Constraint):
    """An instance of one of ``types``; ``what`` replaces the description (``"a numpy RandomState"``)."""

    def __init__(self, *types: type, what: str | None = None):
        if not types:
            raise ValueError("InstanceOf needs at least one type")
        self.types, self.what = types, what

    def is_satisfied_by(self, value) -> bool:
        if _is_bool(value) and bool not in self.types:
            return False
        return isinstance(value, self.types)

    def parts(self) -> list[str]:
        return [self.what] if self.what else [_article(t.__name__) for t in self.types]

    def __str__(self) -> str:
        return _join(self.parts())


class HasMethods(Constraint):
    """An object with callable attributes ``names`` (e.g. an unfitted scikit-learn estimator)."""

    def __init__(self, *names: str):
        if not names:
            raise ValueError("HasMethods needs at least one method name")
        self.names = names

    def is_satisfied_by(self, value) -> bool:
        return not isinstance(value, type) and all(callable(getattr(value, n, None)) for n in self.names)

    def __str__(self) -> str:
        quoted = [repr(n) for n in self.names]
        joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
        return f"an object implementing {joined}"


class ListOf(Constraint):
    """A list or tuple of at least ``min_length`` items, each meeting ``item`` (one constraint or a list)."""

    def __init__(self, item, *, min_length: int = 1):
        self.items = _as_list(item)
        self.min_length = min_length

    def is_satisfied_by(self, value) -> bool:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length:
            return False
        return all(_satisfies(v, self.items) for v in value)

    def __str__(self) -> str:
        if self.min_length == 1:
            head = "a non-empty list or tuple"
        elif self.min_length > 1:
            head = f"a list or tuple of at least {self.min_length} items"
        else:
            head = "a list or tuple"
        return f"{head} whose items are each {describe_constraints(self.items)}"


#: The usual ``random_state``: a seed, a numpy RandomState, or None (fresh randomness).
RANDOM_STATE = [Interval(int, 0, None), InstanceOf(np.random.RandomState, what="a numpy RandomState"), None]


def _as_list(constraints) -> list:
    return list(constraints) if isinstance(constraints, (list, tuple)) else [constraints]


def _satisfies(value, constraints: list) -> bool:
    for c in constraints:
        if c is None:
            if value is None:
                return True
        elif c.is_satisfied_by(value):
            return True
    return False


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def describe_constraints(constraints) -> str:
    """What a value meeting any of ``constraints`` is, in words: ``'an int >= 1 or None'`` (None last)."""
    constraints = _as_list(constraints)
    parts = [part for c in constraints if c is not None for part in c.parts()]
    return _join(parts + (["None"] if None in constraints else []))


def check_params(estimator) -> None:
    """Check every parameter ``type(estimator)._parameter_constraints`` lists, in its order.

    Raises
    ------
    InvalidParameterError
        For the first parameter whose value meets none of its constraints, in
        scikit-learn's words: "The 'k' parameter of Demo must be an int >= 1.
        Got 0 instead."
    """
    cls = type(estimator)
    for name, constraints in cls._parameter_constraints.items():
        value = getattr(estimator, name)
        constraints = _as_list(constraints)
        if _satisfies(value, constraints):
            continue
        shown = repr(value)
        if len(shown) > _MAX_SHOWN:
            shown = shown[: _MAX_SHOWN - 3] + "..."
        raise InvalidParameterError(
            f"The {name!r} parameter of {cls.__name__} must be "
            f"{describe_constraints(constraints)}. Got {shown} instead."
        )
