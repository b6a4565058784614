"""Importing the package stays light: heavy optional modules load only when used."""

import subprocess
import sys


def test_import_does_not_load_scipy_stats():
    # scipy.stats takes about 0.5 s to import; the CLI and every worker process pay for it
    code = ("import sys, sts_dynamics as sd; sd.simulate(sd.load('operator_skill')); "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
