"""Every code block of the README and of docs/*.md runs, as written.

A page's blocks run in order in one scratch folder holding a copy of ``data/``:

- ``sh``: each command (a line, or lines joined by a trailing backslash) runs in
  bash with this environment's ``terrain`` first on PATH, and must exit 0, or N
  where the line carries the comment ``# exit N``;
- ``python``: executed in one namespace per page;
- ``text``: not run (synopses, output, listings).

The README's Quickstart block is the exception: its two commands make a virtual
environment and run this suite, so .ci/run runs them, on a clean clone, and
this file only checks their form.

A block in any other language, or none, fails the page: say what it is. A page
that needs more than the sample DEMs (a DEM in feet, tiles, a server) gets a
fixture named after it in tests/docs_fixtures.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import docs_fixtures

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The languages a block may have; see the module's docstring.
LANGUAGES = ("sh", "python", "text")

_FENCE = re.compile(r"^\s*```(\S*)\s*$")  # indented too (a block in a list item)
_EXIT = re.compile(r"#\s*exit\s+(\d+)\b")


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line number, language, text) of each fenced block of a Markdown page."""
    found, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body = i + 1, []
        indent = len(lines[i]) - len(lines[i].lstrip())  # the fence's, in a list item
        i += 1
        while i < len(lines) and not lines[i].lstrip().startswith("```"):
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        found.append((start, m.group(1), "\n".join(body)))
        i += 1
    return found


def commands(text: str) -> list[str]:
    """The commands of a shell block: comments and blank lines dropped, continuations joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _fixture(page: Path):
    name = "readme" if page.name == "README.md" else page.stem
    return getattr(docs_fixtures, name, None)


def test_every_block_has_a_known_language():
    for page in PAGES:
        for line, language, _ in blocks(page):
            assert language in LANGUAGES, (
                f"{page.relative_to(ROOT)}:{line}: a code block in {language or 'no language'};"
                f" mark it one of {', '.join(LANGUAGES)}"
            )


def quickstart_line() -> int:
    """The line where the README's Quickstart block starts (.ci/run runs that block)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    heading = text.index("## Quickstart")
    return next(line for line, _, _ in blocks(ROOT / "README.md") if line > heading + 1)


def test_quickstart_is_two_commands():
    """.ci/run runs the first block under '## Quickstart': exactly two commands, pytest second."""
    block = next(text for line, _, text in blocks(ROOT / "README.md")
                 if line == quickstart_line())
    first, second = commands(block)
    assert "pip install" in first
    assert "terrain slope data/" in first
    assert "pytest" in second


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_as_written(page, tmp_path, monkeypatch):
    skip = quickstart_line() if page.name == "README.md" else None
    runnable = [(line, lang, text) for line, lang, text in blocks(page)
                if lang != "text" and line != skip]
    if not runnable:
        pytest.skip(f"{page.name} has no runnable block")
    scratch = tmp_path / "scratch"
    shutil.copytree(ROOT / "data", scratch / "data")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    fixture = _fixture(page)
    with fixture(scratch, env) if fixture else contextlib.nullcontext():
        monkeypatch.chdir(scratch)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        namespace: dict = {"__name__": "__docs__"}
        where = page.relative_to(ROOT)
        for line, language, text in runnable:
            if language == "python":
                code = compile(text, f"{where}:{line}", "exec")
                exec(code, namespace)
                continue
            for command in commands(text):
                expected = _EXIT.search(command)
                want = int(expected.group(1)) if expected else 0
                done = subprocess.run(["bash", "-c", command], cwd=scratch, env=env,
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == want, (
                    f"{where}:{line}: `{command}` exited {done.returncode}, not {want}\n"
                    f"{done.stderr[-2000:]}"
                )


def test_the_version_written_down_is_the_package_s():
    """README and CITATION.cff name terrain.__version__, the one place it is set."""
    import terrain

    assert f"terrain {terrain.__version__} ·" in (ROOT / "README.md").read_text(encoding="utf-8")
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert f"\nversion: {terrain.__version__}\n" in cff
    assert f"## {terrain.__version__.split('.dev')[0]} " in (ROOT / "CHANGELOG.md").read_text()
