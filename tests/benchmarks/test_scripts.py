"""The benchmark scripts run end to end on tiny inputs and write the JSON the README describes."""
import json
import os
import subprocess
import sys

import pytest

SCRIPTS = {
    "random_walk.py": ["--sizes", "12", "--repeats", "1", "--threads", "1"],
    "auxsegnet_affinity.py": ["--crops", "48", "--image", "40", "56", "--chunk", "9", "--batch", "2",
                              "--channels", "8", "--threads", "1"],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_benchmark_prints_a_table_and_writes_json(script, repo_root, tmp_path):
    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src")}
    done = subprocess.run([sys.executable, str(repo_root / "benchmarks" / script), *SCRIPTS[script], "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| ")
    results = json.loads(out.read_text())["results"]
    assert results and all(row.get("peak_mib") is not None or row.get("sparse_peak_mib") is not None for row in results)
    if script == "auxsegnet_affinity.py":
        assert next(r for r in results if "chunked" in r["case"])["max_abs_diff"] < 1e-5
