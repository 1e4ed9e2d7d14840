"""docs/commands.md is generated from the parsers; a flag, default or help text changed in the code
without regenerating it would leave the reference wrong, so the committed file must equal a fresh run."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_docs.py"
DOC = ROOT / "docs" / "commands.md"


def _generate(tmp_path: Path) -> str:
    out = tmp_path / "commands.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "-o", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8")


def test_commands_reference_is_current(tmp_path: Path) -> None:
    fresh = _generate(tmp_path)
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if fresh != committed:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), fresh.splitlines(True),
                                                 "docs/commands.md", "generated", n=1))[:60])
        raise AssertionError(f"docs/commands.md is stale: run `python scripts/gen_cli_docs.py`\n{diff}")


def test_reference_covers_every_command_and_option(tmp_path: Path) -> None:
    """Every command, and every option string of every stage command, appears in the reference."""
    from sctool_cli.main import COMMANDS, build_parser

    text = _generate(tmp_path)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for module in COMMANDS:
        name = module.replace("_", "-")
        assert f"## `sctool {name}`" in text, name
        if name == "train":
            continue
        for action in sub.choices[name]._actions:
            for opt in action.option_strings:
                if opt not in ("-h", "--help"):
                    assert opt in text, f"sctool {name} {opt}"
    from sctool.train.cli import build_fit_parser

    fit, _ = build_fit_parser(prog="sctool train fit")
    for action in fit._actions:
        if action.option_strings and action.option_strings[0] not in ("-h", "--help"):
            assert f"- `{', '.join(action.option_strings)}" in text, f"sctool train fit {action.option_strings}"
