"""The stubs and the package's annotations hold under mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import douyu

HERE = Path(__file__).resolve().parent


def test_mypy_strict_accepts_the_package_and_a_typed_use():
    package = Path(douyu.__file__).parent
    assert (package / "_douyu.pyi").exists() and (package / "py.typed").exists()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         str(HERE / "typing" / "usage.py")],
        capture_output=True, text=True, timeout=240, cwd=HERE / "typing",
    )
    assert result.returncode == 0, result.stdout + result.stderr
