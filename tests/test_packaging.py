"""The product's package and image leave the simulated Microsoft tenant out."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_no_sandbox(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("onramp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(name.startswith("wizard/") for name in names)
    assert not [name for name in names if name.startswith("sandbox/")]


def test_the_image_copies_no_sandbox():
    copied = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert "sandbox" not in copied and "." not in copied
