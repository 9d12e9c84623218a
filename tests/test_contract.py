"""The estimator contract (STYLE.md section 1), checked once for every estimator-like class.

scikit-learn's ``check_estimator`` feeds numpy arrays; ours take a Dataset (a DataFrame plus a Schema) and
rules, so the checks that apply are written again here and parametrized over every class: the rule
discoverer, every registered generator (the LLM ones with a scripted :class:`FakeLLM` that fails the test
if it is asked anything), the labeler and the cross-fitted check.

A check a class does not meet yet is marked ``xfail(strict=True)`` with the reason: the mark fails the
run as soon as the class is fixed, so whoever fixes it removes the mark.
"""

from __future__ import annotations

import inspect
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

from synth_core._validation import describe_constraints
from synth_core.crossfit import CrossFitCheck
from synth_core.data import make_dataset
from synth_core.discovery import DGRDiscoverer
from synth_core.errors import InvalidParameterError, NotFittedError
from synth_core.generators import GENERATORS, get_generator
from synth_core.labels import Labeler
from synth_core.llm.testing import FakeLLM
from synth_core.rules import parse_rule

# ------------------------------------------------------------------- the classes, and how to drive them


@dataclass
class Context:
    dataset: Any
    rules: list
    rows: pd.DataFrame  # candidate rows with provenance, for the labeler


@dataclass
class Case:
    """How the checks build, fit and use one class."""

    cls: type
    params: dict  # constructor arguments for a small, fast fit
    fit: Callable  # fit(estimator, context) -> what fit returned
    needs_fit: dict  # method name -> call(estimator, context), each needing a fitted estimator
    bad: tuple  # (parameter, value) the class must refuse when fit starts
    output: Callable | None = None  # output(fitted estimator, context): what a refit or a pickle must repeat
    marks: dict = field(default_factory=dict)  # check name -> pytest mark for a check not met yet

    def make(self, **overrides):
        return self.cls(**{**self.params, **overrides})


def _fit_dataset(est, ctx):
    return est.fit(ctx.dataset)


def _fit_generator(est, ctx):
    return est.fit(ctx.dataset, ctx.rules)


def _data_rows(frame: pd.DataFrame) -> dict:
    """Rows as a plain dict, without the ids that are unique per process."""
    return frame.drop(columns=["_row_id", "_call_id"], errors="ignore").reset_index(drop=True).to_dict("list")


def _generated(est, ctx):
    return _data_rows(est.generate(6).rows)


def _produce(fold_ds, fold):
    rows = fold_ds.train.sample(20, random_state=fold.index)[fold_ds.features + [fold_ds.target]]
    rows = rows.reset_index(drop=True)
    rows["_row_id"] = [f"c{fold.index}.{i}" for i in range(len(rows))]
    rows["_status"], rows["_reason"] = "accepted", ""
    return rows


def _label(fold_ds):
    teacher = DecisionTreeClassifier(max_depth=3, random_state=0)
    return {"tree": Labeler(mode="relabel", teacher=teacher, random_state=0).fit(fold_ds)}


def _fit_check(est, ctx):
    return est.fit(ctx.dataset, est.plan(ctx.dataset), _produce, _label)


def _no_calls(prompt):
    raise AssertionError(f"the contract checks must not reach the LLM; it was asked:\n{prompt[:300]}")


def _xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


BAD_GENERATOR_PARAMS = {
    "statistical": ("oversample", -1.0),
    "jitter": ("noise", -1.0),
    "date": ("iterations", 0),
    "samplellm": ("n_clusters", 0),
    "htdbu": ("rounds", -1),
    "structsynth": ("max_edges", 0),
}
PINNED = {"htdbu": {"skeleton": ["age >= 18"]}, "structsynth": {"edges": [("age", "x0")]}}


def _generator_case(name: str) -> Case:
    cls = get_generator(name)
    params = {"random_state": 0, **PINNED.get(name, {})}
    if cls.needs_llm:
        params["client"] = FakeLLM(responses=_no_calls)
    return Case(
        cls,
        params,
        _fit_generator,
        {"generate": lambda est, ctx: est.generate(3)},
        BAD_GENERATOR_PARAMS[name],
        output=None if cls.needs_llm else _generated,
    )


CASES: dict[str, Case] = {
    "DGRDiscoverer": Case(
        DGRDiscoverer,
        {"rho": 0.02, "max_depth": 3, "random_state": 0},
        _fit_dataset,
        {"summary": lambda est, ctx: est.summary()},
        ("rho", -1),
        output=lambda est, ctx: [(r.text, r.support, r.error) for r in est.rules_],
    ),
    **{f"generators.{name}": _generator_case(name) for name in GENERATORS},
    "Labeler": Case(
        Labeler,
        {"mode": "filter", "teacher": DecisionTreeClassifier(max_depth=3, random_state=0), "random_state": 0},
        _fit_dataset,
        {
            "transform": lambda est, ctx: est.transform(ctx.rows),
            "teacher_losses": lambda est, ctx: est.teacher_losses(ctx.dataset.val),
            "summary": lambda est, ctx: est.summary(ctx.rows),
            "with_mode": lambda est, ctx: est.with_mode("relabel"),
        },
        ("threshold", 1.5),
        output=lambda est, ctx: _data_rows(est.transform(ctx.rows)),
    ),
    "CrossFitCheck": Case(
        CrossFitCheck,
        {"folds": 2, "repeats": 1, "fractions": (0.5, 1.0), "random_state": 0},
        _fit_check,
        {"summary": lambda est, ctx: est.summary(), "primary": lambda est, ctx: est.primary},
        ("folds", 1),
        output=lambda est, ctx: repr(est.summary()),
    ),
}


def _cases(check: str, *, only: Callable[[Case], bool] = lambda case: True):
    return [
        pytest.param(name, id=name, marks=case.marks.get(check, ()))
        for name, case in CASES.items()
        if only(case)
    ]


def _method_cases():
    return [
        pytest.param(name, method, id=f"{name}.{method}", marks=case.marks.get(f"unfitted.{method}", ()))
        for name, case in CASES.items()
        for method in case.needs_fit
    ]


def _constrained_cases():
    return [
        pytest.param(name, param, id=f"{name}.{param}")
        for name, case in CASES.items()
        for param in getattr(case.cls, "_parameter_constraints", {})
    ]


@pytest.fixture
def ctx(mixed_frame):
    dataset = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    rules = [
        parse_rule("x0 > 0.5", id="r1", status="approved"),
        parse_rule("x0 <= 0.5", id="r2", status="approved"),
        parse_rule("age > 200", id="r3", status="rejected"),
    ]
    rows = dataset.train.head(12)[dataset.features + [dataset.target]].reset_index(drop=True)
    rows["_row_id"] = [f"s{i}" for i in range(len(rows))]
    rows["_status"], rows["_reason"] = "accepted", ""
    return Context(dataset, rules, rows)


class Unique:
    """A value no parameter allows, and that is only ever equal to itself."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Unique({self.name!r})"


def _same(a, b) -> bool:
    """Equal parameter values: estimators by type and parameters, NaN equal to NaN."""
    if hasattr(a, "get_params") and not isinstance(a, type):
        return type(a) is type(b) and _same_params(a.get_params(deep=False), b.get_params(deep=False))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


def _same_params(p: dict, q: dict) -> bool:
    return p.keys() == q.keys() and all(_same(p[k], q[k]) for k in p)


# --------------------------------------------------------------------------- the checks


def test_every_estimator_like_class_is_checked():
    """A new generator is checked as soon as it is registered; a new kind of estimator must be added."""
    generators = {name.removeprefix("generators.") for name in CASES if name.startswith("generators.")}
    assert generators == set(GENERATORS)
    assert set(BAD_GENERATOR_PARAMS) == set(GENERATORS)


@pytest.mark.parametrize("name", _cases("init"))
def test_constructor_only_stores_its_arguments(name):
    cls = CASES[name].cls
    signature = inspect.signature(cls.__init__)
    names = [p for p in signature.parameters if p != "self"]
    assert all(signature.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY for p in names)
    values = {p: Unique(p) for p in names}  # nothing is checked or derived in __init__
    est = cls(**values)
    assert {p: getattr(est, p) for p in names} == values
    assert set(est.get_params(deep=False)) == set(names)
    assert [a for a in vars(est) if a.endswith("_")] == []


@pytest.mark.parametrize("name", _cases("clone"))
def test_clone_gives_an_equal_unfitted_copy(name, ctx):
    case = CASES[name]
    est = case.make()
    copy = clone(est)
    assert copy is not est and type(copy) is type(est)
    assert _same_params(copy.get_params(deep=False), est.get_params(deep=False))
    fitted = clone(case.fit(case.make(), ctx))
    assert [a for a in vars(fitted) if a.endswith("_")] == []


@pytest.mark.parametrize("name", _cases("params"))
def test_get_and_set_params_round_trip(name):
    est = CASES[name].make()
    params = est.get_params(deep=False)
    assert est.set_params(**params) is est
    assert est.get_params(deep=False) == params
    assert est.set_params(random_state=7).get_params()["random_state"] == 7
    with pytest.raises(ValueError, match=f"Invalid parameter 'nope' for estimator {type(est).__name__}"):
        est.set_params(nope=1)


@pytest.mark.parametrize("name", _cases("fit"))
def test_fit_returns_self_and_leaves_parameters_alone(name, ctx):
    case = CASES[name]
    est = case.make()
    before = est.get_params(deep=False)
    attributes = set(vars(est))
    assert case.fit(est, ctx) is est
    after = est.get_params(deep=False)
    assert after.keys() == before.keys()
    assert [k for k in before if after[k] is not before[k]] == []  # fit never rewrites a parameter
    added = set(vars(est)) - attributes
    assert sorted(a for a in added if not a.startswith("_") and not a.endswith("_")) == []


@pytest.mark.parametrize("name, method", _method_cases())
def test_methods_that_need_fit_say_so(name, method, ctx):
    case = CASES[name]
    with pytest.raises(NotFittedError, match=rf"{case.cls.__name__}.* is not fitted yet\. Call 'fit'"):
        case.needs_fit[method](case.make(), ctx)


@pytest.mark.parametrize("name", _cases("bad_parameter"))
def test_a_bad_parameter_is_refused_by_name_when_fit_starts(name, ctx):
    case = CASES[name]
    param, value = case.bad
    est = case.make(**{param: value})  # stored as given
    assert est.get_params()[param] == value
    pattern = (
        rf"The '{param}' parameter of {case.cls.__name__} must be .+\. "
        rf"Got {re.escape(repr(value))} instead\."
    )
    with pytest.raises(InvalidParameterError) as info:
        case.fit(est, ctx)
    assert re.fullmatch(pattern, str(info.value)), str(info.value)


@pytest.mark.parametrize("name", _cases("constraints"))
def test_parameter_constraints_cover_every_parameter(name):
    cls = CASES[name].cls
    assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))


@pytest.mark.parametrize("name, param", _constrained_cases())
def test_every_constrained_parameter_is_checked(name, param, ctx):
    case = CASES[name]
    bad = Unique(param)
    expected = (
        f"The {param!r} parameter of {case.cls.__name__} must be "
        f"{describe_constraints(case.cls._parameter_constraints[param])}. Got {bad!r} instead."
    )
    with pytest.raises(InvalidParameterError) as info:
        case.fit(case.make(**{param: bad}), ctx)
    assert str(info.value) == expected


@pytest.mark.parametrize("name", _cases("refit", only=lambda case: case.output is not None))
def test_fitting_again_gives_the_same_result(name, ctx):
    case = CASES[name]
    est = case.fit(case.make(), ctx)
    first = case.output(est, ctx)
    assert case.output(case.fit(est, ctx), ctx) == first
    assert case.output(case.fit(case.make(), ctx), ctx) == first


@pytest.mark.parametrize("name", _cases("pickle", only=lambda case: case.output is not None))
def test_a_fitted_estimator_survives_pickling(name, ctx):
    case = CASES[name]
    est = case.fit(case.make(), ctx)
    copy = pickle.loads(pickle.dumps(est))
    assert case.output(copy, ctx) == case.output(est, ctx)
