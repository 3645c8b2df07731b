"""`.ci/run` runs the README's test command, as written (the README promises it)."""
from __future__ import annotations

import re
from pathlib import Path


def test_ci_runs_the_readmes_second_command_as_written(repo_root: Path) -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", (repo_root / "README.md").read_text(), flags=re.S)
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (repo_root / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
