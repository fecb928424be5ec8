"""The README's Python example runs as written."""

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example(tmp_path):
    text = README.read_text()
    section = text.split("## Python (`pyoxen`)", 1)[1].split("\n## ", 1)[0]
    assert "pip install ./python" in section
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    p = subprocess.run([sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
