import json
import zipfile

import pandas as pd
import pytest

from synth_core.data import make_dataset
from synth_core.errors import BundleError, GenerationError
from synth_core.pipeline import estimate_calls, run_pipeline
from synth_core.rules import parse_rule
from synth_core.run import Run

#: A quick cross-fitted check for tests that are not about the check itself.
FAST = {"folds": 3, "repeats": 1}


@pytest.fixture
def dataset(mixed_frame):
    return make_dataset(mixed_frame, target="y", seed=0)


@pytest.fixture
def rules():
    return [
        parse_rule("x0 > 0.5", id="R1", status="approved"),
        parse_rule("x0 <= 0.5", id="R2", status="approved"),
        parse_rule("age > 70", id="R3", status="rejected"),
    ]


@pytest.mark.parametrize("labels", ["relabel", "filter", "score", "none"])
def test_pipeline_and_bundle_round_trip(dataset, rules, labels, tmp_path):
    run = run_pipeline(dataset, rules, method="jitter", n=40, labels=labels, selection="mds", **FAST)
    assert len(run.selected) <= 40
    assert run.params["labels"] == labels
    path = tmp_path / "run.zip"
    run.save(path)
    back = Run.load(path)
    assert [r.to_dict() for r in back.rules] == [r.to_dict() for r in run.rules]
    assert back.params == json.loads(json.dumps(run.params))
    assert len(back.rows) == len(run.rows)
    assert back.selected["_row_id"].tolist() == run.selected["_row_id"].tolist()
    if labels != "none":
        assert set(back.rows["_label_mode"].dropna()) == {labels}
        assert back.labels["mode"] == labels
    pd.testing.assert_frame_equal(back.dataset.frame, dataset.frame, check_dtype=False)
    assert (back.dataset.test_idx == dataset.test_idx).all()
    aug = back.augmented_frame()
    assert (aug["source"] == "real").sum() == len(dataset.train)


def test_pipeline_zero_approved_rules(dataset):
    with pytest.raises(GenerationError, match="no approved rules"):
        run_pipeline(dataset, [parse_rule("x0 > 0", id="R1")], method="jitter", n=10, **FAST)


def test_n_larger_than_possible_stops_at_what_exists(dataset):
    rules = [
        parse_rule("age > 200", id="R1", status="approved"),
        parse_rule("age > 70", id="R2", status="approved"),
    ]
    run = run_pipeline(
        dataset,
        rules,
        method="jitter",
        n=500,
        labels="none",
        selection="none",
        oversample=1,
        guard=False,
        **FAST,
    )
    assert 0 < len(run.selected) < 500
    assert any("rule R1: no rows" in m for m in run.messages)


def test_bundle_errors(tmp_path, dataset, rules):
    with pytest.raises(BundleError, match="not a run bundle"):
        Run.load(b"not a zip")
    with pytest.raises(BundleError, match="does not exist"):
        Run.load(tmp_path / "nope.zip")
    run = run_pipeline(dataset, rules, method="jitter", n=10, labels="none", selection="none", **FAST)
    raw = run.save(include_data=False)
    with pytest.raises(BundleError, match="without its data"):
        Run.load(raw)
    assert len(Run.load(raw, dataset=dataset).rows) == len(run.rows)


def test_api_key_never_written(dataset, rules, monkeypatch, tmp_path):
    key = "sk-test-SECRET-1234567890"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    run = run_pipeline(dataset, rules, method="jitter", n=10, labels="none", selection="none", **FAST)
    path = tmp_path / "run.zip"
    run.save(path)
    with zipfile.ZipFile(path) as zf:
        assert all(key.encode() not in zf.read(name) for name in zf.namelist())
    run.params["oops"] = key
    with pytest.raises(BundleError, match="OPENAI_API_KEY"):
        run.save(tmp_path / "leak.zip")
    assert not (tmp_path / "leak.zip").exists()


def test_estimate_calls(rules):
    assert estimate_calls("jitter", rules, 100) == 0
    assert estimate_calls("date", rules, 100, {"rows_per_call": 5, "iterations": 1}) == 20
    k = len([r for r in rules if r.status == "approved"])
    assert estimate_calls("date", rules, 100, {"rows_per_call": 5, "iterations": 2}) == 40 + k
    assert estimate_calls("samplellm", rules, 100, {"rows_per_call": 5, "pool_factor": 1.5}) == 30 + k - 1
    assert estimate_calls("samplellm", rules, 100, {"max_calls": 3}) == 3
    assert estimate_calls("htdbu", rules, 10_000) == 1  # structure only: does not grow with n
    assert estimate_calls("htdbu", rules, 100, {"skeleton": ["V1 > 0"]}) == 0
    assert estimate_calls("structsynth", rules, 10_000, {"rows_per_call": 5}) == 1
    assert estimate_calls("structsynth", rules, 100, {"edges": "a -> b"}) == 0


def test_guard_keeps_no_rows_when_they_hurt_validation(mixed_frame, rules):
    from synth_core.labels import Labeler

    dataset = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")

    class Flip(Labeler):
        """A label step that writes the wrong class on every row."""

        def transform(self, rows):
            out = super().transform(rows)
            out["y"] = out["y"].map({"yes": "no", "no": "yes"})
            return out

    flip = Flip(mode="relabel").fit(dataset)
    run = run_pipeline(
        dataset, rules, method="jitter", n=200, labels="relabel", labeler=flip, selection="none", guard=True
    )
    assert len(run.selected) == 0
    assert (
        "no synthetic rows kept: none improved your model on validation rows; try more rows, another "
        "generator or label mode."
    ) in run.messages
    assert run.labels["amount"][0]["rows"] == 0


def test_damaged_bundles_give_bundle_errors(dataset, rules):
    import io

    run = run_pipeline(
        dataset, rules, method="jitter", n=10, labels="none", selection="none", guard=False, **FAST
    )
    raw = run.save()
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    for meta in ({"version": 1}, {**json.loads(files["run.json"]), "dataset": {"target": "y"}}):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("run.json", json.dumps(meta))
            zf.writestr("rows.csv", files["rows.csv"])
            zf.writestr("data.csv", files["data.csv"])
        with pytest.raises(BundleError, match="not a run bundle"):
            Run.load(buf.getvalue())


def test_typed_key_is_refused_and_urls_lose_credentials(dataset, rules):
    from synth_core.pipeline import _public_url

    run = run_pipeline(
        dataset, rules, method="jitter", n=10, labels="none", selection="none", guard=False, **FAST
    )
    run.params["note"] = "key typed-in-the-app-123456"
    with pytest.raises(BundleError, match="the API key"):
        run.save(secrets=["typed-in-the-app-123456"])
    assert (
        _public_url("https://user:sk-secret@host.example:8443/v1?api-key=sk-x")
        == "https://host.example:8443/v1"
    )
