import subprocess
import sys

import pytest

from synth_core.cli import build_parser, main
from synth_core.samples import sample_path

from .conftest import shared_dataset


def test_inspect_adult(capsys):
    code = main(["inspect", str(shared_dataset("adult.csv.gz")), "--target", "income"])
    out = capsys.readouterr().out
    assert code == 0
    assert "48,842 rows" in out and "cross-fitted: every one of 48,842 rows is used" in out
    assert "workclass" in out and "categorical" in out
    assert (
        main(["inspect", str(shared_dataset("adult.csv.gz")), "--target", "income", "--protocol", "paper"])
        == 0
    )
    assert "train 29,304 / validation 9,769 / test 9,769" in capsys.readouterr().out


def test_inspect_bad_target_exits_2(capsys):
    code = main(["inspect", str(sample_path("bank_marketing_3k.csv")), "--target", "nope"])
    assert code == 2
    assert "target 'nope' is not a column" in capsys.readouterr().err


def test_console_script_runs():
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth_core.cli",
            "inspect",
            str(sample_path("bike_3k.csv")),
            "--target",
            "cnt",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "regression" in res.stdout


def test_generate_then_evaluate(tmp_path, capsys):
    out, csv, report = tmp_path / "run.zip", tmp_path / "rows.csv", tmp_path / "report.md"
    code = main(
        [
            "generate",
            str(sample_path("bank_marketing_3k.csv")),
            "--target",
            "Class",
            "--method",
            "jitter",
            "--labels",
            "relabel",
            "--n",
            "60",
            "--no-check",
            "--out",
            str(out),
            "--csv",
            str(csv),
        ]
    )
    assert code == 0, capsys.readouterr().err
    import pandas as pd

    rows = pd.read_csv(csv)
    assert 0 < len(rows) <= 60 and list(rows.columns) == list(
        pd.read_csv(sample_path("bank_marketing_3k.csv")).columns
    )
    assert main(["evaluate", str(out), "--report", str(report), "--no-utility"]) == 0
    text = report.read_text()
    assert "fidelity" in text and "detection_auc" in text and "rule_compliance" in text


def test_generate_for_another_model_prints_every_verdict(tmp_path, capsys):
    from synth_core.run import Run

    checked = tmp_path / "checked.zip"
    code = main(
        [
            "generate",
            str(sample_path("bank_marketing_3k.csv")),
            "--target",
            "Class",
            "--for-model",
            "hgb",
            "--also-check",
            "tree",
            "--n",
            "3000",
            "--out",
            str(checked),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    run = Run.load(checked)
    check = run.metrics["check"]
    assert run.params["model"] == "boosting" and run.params["check_models"] == ["tree"]
    assert (
        run.params["protocol"] == "crossfit"
        and check["folds"] == 5
        and set(check["verdicts"]) == {"boosting", "tree"}
    )
    assert "verdict for your gradient boosting:" in out and "verdict for your decision tree:" in out
    assert check["kept_rows"] == len(run.selected)
    assert f"{len(run.selected):,} kept" in out


def test_generate_refuses_rules_that_do_not_fit_the_table(tmp_path, capsys):
    from synth_core.rules import parse_rule, rules_to_json

    path = tmp_path / "rules.json"
    path.write_text(
        rules_to_json(
            [
                parse_rule("nope > 3", id="r1", status="approved"),
                parse_rule("Class == 1", id="r2", status="approved"),
            ]
        )
    )
    code = main(
        [
            "generate",
            str(sample_path("bank_marketing_3k.csv")),
            "--target",
            "Class",
            "--rules",
            str(path),
            "--out",
            str(tmp_path / "x.zip"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "nope" in err and "r2" in err and not (tmp_path / "x.zip").exists()


def test_kind_option_sets_a_column_kind(capsys):
    assert (
        main(
            [
                "inspect",
                str(sample_path("bank_marketing_3k.csv")),
                "--target",
                "Class",
                "--kind",
                "V13=categorical",
            ]
        )
        == 0
    )
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("V13"))
    assert "categorical" in line
    assert (
        main(["inspect", str(sample_path("bank_marketing_3k.csv")), "--target", "Class", "--kind", "V13"])
        == 2
    )
    assert "--kind expects COL=KIND" in capsys.readouterr().err


def test_discover_writes_json_that_reads_back(tmp_path, capsys):
    from synth_core.rules import rules_from_json

    path = tmp_path / "rules.json"
    assert (
        main(
            [
                "discover",
                str(sample_path("bank_marketing_3k.csv")),
                "--target",
                "Class",
                "--rho",
                "0.2",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rules = rules_from_json(path.read_text())
    assert rules and all(r.support for r in rules)
    assert rules[0].id in out


def test_evaluate_bad_bundle_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    assert main(["evaluate", str(bad)]) == 2
    assert "not a run bundle" in capsys.readouterr().err


def test_folds_are_auto_by_default_or_a_whole_number(capsys):
    def folds(*extra):
        return build_parser().parse_args(["generate", "t.csv", "--target", "y", *extra]).folds

    assert folds() == "auto" and folds("--folds", "auto") == "auto" and folds("--folds", "10") == 10
    with pytest.raises(SystemExit) as exc:
        folds("--folds", "ten")
    assert exc.value.code == 2
    assert "--folds: expected 'auto' or a whole number, got 'ten'" in capsys.readouterr().err
