"""The command line: in-process calls to main() and one subprocess smoke test."""

import subprocess
import sys

import pandas as pd

from sts_dynamics.cli import main

from _paths import TEACUP


def test_run_prints_a_table(capsys):
    assert main(["run", str(TEACUP), "--set", "Characteristic Time=5"]) == 0
    out = capsys.readouterr().out
    assert "Teacup Temperature" in out
    # analytic value at t = 30 with tau = 5: 70 + 110 e^-6
    assert f"{70 + 110 * 2.718281828459045 ** -6:.4g}" in out


def test_run_writes_csv_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run.csv"
    assert main(["run", str(TEACUP), "--out", str(out), "--method", "euler", "--quiet"]) == 0
    df = pd.read_csv(out)
    assert df["Teacup Temperature"].iloc[0] == 180
    assert main(["run", str(TEACUP), "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["run", str(TEACUP), "--out", str(out), "--force", "--quiet"]) == 0


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    cases = [
        (["run", "no/such.mdl"], "does not exist"),
        (["run", str(TEACUP), "--set", "Characteristc Time=5"], "Did you mean"),
        (["run", str(TEACUP), "--set", "oops"], "expects NAME=VALUE"),
        (["run", str(TEACUP), "--method", "RK99"], "--method must be one of"),
        (["run", str(TEACUP), "--out", str(tmp_path / "missing" / "x.csv")], "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err
        assert "\n" not in err and "Traceback" not in err


def test_module_entry_point_smoke():
    res = subprocess.run([sys.executable, "-m", "sts_dynamics", "run", str(TEACUP)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Teacup Temperature" in res.stdout


def test_outputs_are_ordinary_files(tmp_path):
    import os
    import stat

    out = tmp_path / "run.csv"
    assert main(["run", str(TEACUP), "--out", str(out), "--quiet"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
