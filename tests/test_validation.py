"""synth_core._validation: what each constraint admits, and the one message every refusal reads as."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from synth_core._validation import (
    RANDOM_STATE,
    Bool,
    Callable,
    HasMethods,
    InstanceOf,
    Interval,
    ListOf,
    Options,
    check_params,
    describe_constraints,
)
from synth_core.errors import InvalidParameterError


@pytest.mark.parametrize(
    "constraint, text, admitted, refused",
    [
        (Interval(int, 1, None), "an int >= 1", [1, 7, np.int64(3)], [0, -1, 1.0, True, "2", None]),
        (Interval(int, 2, 20), "an int in [2, 20]", [2, 20], [1, 21, 2.5]),
        (
            Interval(float, 0, None, closed="neither"),
            "a float > 0",
            [1e-9, 3, np.float64(0.5)],
            [0, 0.0, -1, math.nan, math.inf, True, "0.1"],
        ),
        (Interval(float, 0, 1, closed="left"), "a float in [0, 1)", [0, 0.0, 0.999], [1, 1.0, -0.1]),
        (Interval(float, 0, 1, closed="right"), "a float in (0, 1]", [1, 0.5], [0, 0.0]),
        (Interval(float, None, 5, closed="neither"), "a float < 5", [-1e300, 4.9], [5, -math.inf]),
        (
            Interval(float, None, None, finite=False),
            "a float (inf and -inf allowed)",
            [math.inf, -math.inf, 0],
            [math.nan, False],
        ),
        (
            Interval(float, 0, None, finite=False),
            "a float >= 0 (inf allowed)",
            [math.inf, 0],
            [-math.inf, -1],
        ),
        (
            Options(("auto", "fast")),
            "a str among {'auto', 'fast'}",
            ["auto", "fast"],
            ["Auto", None, 1, ["auto"]],
        ),
        (Options({"b", "a"}), "a str among {'a', 'b'}", ["a"], ["c"]),
        (Options((1, 2)), "one of {1, 2}", [1, 2.0], [True, 3, np.array([1, 2])]),
        (Bool, "a bool", [True, False, np.bool_(True)], [0, 1, "True", None]),
        (Callable, "a callable", [len, lambda: 0, DecisionTreeClassifier], [1, "len"]),
        (InstanceOf(str), "a str", ["", "x"], [b"x", 1]),
        (
            InstanceOf(DecisionTreeClassifier, DecisionTreeRegressor),
            "a DecisionTreeClassifier or a DecisionTreeRegressor",
            [DecisionTreeRegressor()],
            [DecisionTreeClassifier],
        ),
        (InstanceOf(int), "an int", [3], [True]),
        (
            HasMethods("fit", "predict"),
            "an object implementing 'fit' and 'predict'",
            [DecisionTreeClassifier()],
            [DecisionTreeClassifier, "fit", object()],
        ),
        (
            ListOf(Interval(float, 0, 1, closed="right")),
            "a non-empty list or tuple whose items are each a float in (0, 1]",
            [(0.5, 1.0), [1]],
            [(), (0.5, 1.5), "0.5", 0.5, np.array([0.5])],
        ),
        (
            ListOf(InstanceOf(str), min_length=0),
            "a list or tuple whose items are each a str",
            [[], ("a",)],
            [[1]],
        ),
        (
            ListOf(Bool, min_length=2),
            "a list or tuple of at least 2 items whose items are each a bool",
            [(True, False)],
            [(True,)],
        ),
    ],
)
def test_each_constraint_admits_and_describes(constraint, text, admitted, refused):
    assert str(constraint) == text
    assert [v for v in admitted if not constraint.is_satisfied_by(v)] == []
    assert [v for v in refused if constraint.is_satisfied_by(v)] == []


def test_alternatives_join_with_commas_and_or_and_none_comes_last():
    assert describe_constraints([None, Interval(int, 1, None)]) == "an int >= 1 or None"
    assert describe_constraints(RANDOM_STATE) == "an int >= 0, a numpy RandomState or None"
    assert describe_constraints([InstanceOf(DecisionTreeClassifier, DecisionTreeRegressor), None]) == (
        "a DecisionTreeClassifier, a DecisionTreeRegressor or None"
    )
    assert describe_constraints(Bool) == "a bool"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Interval(str, 0, 1),
        lambda: Interval(int, 2, 1),
        lambda: Interval(int, 0, 1, closed="open"),
        lambda: Options(()),
        lambda: InstanceOf(),
        lambda: HasMethods(),
    ],
)
def test_a_malformed_constraint_is_a_programming_error(make):
    with pytest.raises((TypeError, ValueError)):
        make()


class Demo(BaseEstimator):
    _parameter_constraints = {
        "k": [Interval(int, 1, None)],
        "mode": [Options(("fast", "exact")), None],
        "seed": RANDOM_STATE,
        "shares": ListOf(Interval(float, 0, 1, closed="right")),  # one constraint, not a list: also fine
    }

    def __init__(self, *, k=3, mode="fast", seed=None, shares=(1.0,)):
        self.k, self.mode, self.seed, self.shares = k, mode, seed, shares


@pytest.mark.parametrize(
    "params, message",
    [
        ({"k": 0}, "The 'k' parameter of Demo must be an int >= 1. Got 0 instead."),
        (
            {"k": 0, "mode": "slow"},
            "The 'k' parameter of Demo must be an int >= 1. Got 0 instead.",
        ),  # in order
        (
            {"mode": "slow"},
            "The 'mode' parameter of Demo must be a str among {'fast', 'exact'} or None. Got 'slow' instead.",
        ),
        (
            {"seed": -1},
            "The 'seed' parameter of Demo must be an int >= 0, a numpy RandomState or None. Got -1 instead.",
        ),
        (
            {"shares": [0.5, 2]},
            "The 'shares' parameter of Demo must be a non-empty list or tuple whose items are "
            "each a float in (0, 1]. Got [0.5, 2] instead.",
        ),
        (
            {"shares": list(range(100))},  # a long value is cut at 200 characters
            "The 'shares' parameter of Demo must be a non-empty list or tuple whose items are each a float in "
            "(0, 1]. Got [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, "
            "23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, "
            "48, 49, 50, 51... instead.",
        ),
    ],
)
def test_check_params_names_the_first_bad_parameter(params, message):
    with pytest.raises(InvalidParameterError) as info:
        check_params(Demo(**params))
    assert str(info.value) == message


def test_check_params_passes_good_values_through_untouched():
    demo = Demo(k=np.int64(2), mode=None, seed=np.random.RandomState(0), shares=[0.25, 1])
    before = dict(vars(demo))
    assert check_params(demo) is None
    assert vars(demo) == before
