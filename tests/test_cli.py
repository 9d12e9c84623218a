import subprocess
import sys

from synth_core.cli import main
from synth_core.samples import sample_path

from .conftest import shared_dataset


def test_inspect_adult(capsys):
    code = main(["inspect", str(shared_dataset("adult.csv.gz")), "--target", "income"])
    out = capsys.readouterr().out
    assert code == 0
    assert "48,842 rows" in out and "train 29,304 / validation 9,769 / test 9,769" in out
    assert "workclass" in out and "categorical" in out


def test_inspect_bad_target_exits_2(capsys):
    code = main(["inspect", str(sample_path("bank_marketing_3k.csv")), "--target", "nope"])
    assert code == 2
    assert "target 'nope' is not a column" in capsys.readouterr().err


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "synth_core.cli", "inspect", str(sample_path("bike_3k.csv")),
                          "--target", "cnt"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "regression" in res.stdout
