"""sctool run RECIPE.yaml"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a recipe: a sequence of stages from a YAML file",
        description="Run each stage of RECIPE.yaml in order, each writing <workdir>/<NN>-<name>. A rerun "
        "skips finished stages and resumes an interrupted one. See configs/starcoder-data.yaml.",
    )
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--workdir", help="override the recipe's workdir")
    p.add_argument("--threads", type=int, help="override runtime.threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print a JSON list of stage results")
    p.add_argument("--report", nargs="?", const="", metavar="HTML",
                   help="also write the run's HTML report (default <workdir>/report.html), even when a stage fails")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.recipe import run_recipe

    overrides = {"threads": args.threads} if args.threads is not None else {}
    try:
        results = run_recipe(args.recipe, workdir=args.workdir, runtime_overrides=overrides,
                             quiet=args.quiet, echo=not args.json)
    except Exception:
        if args.report is not None:  # the report of a failed run says what is missing
            try:
                _report(args)
            except Exception as exc:
                print(f"sctool run: report not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise
    if args.report is not None:
        _report(args)
    if args.json:
        print(json.dumps([{"name": r.name, "output": str(r.output), "skipped": r.skipped,
                           "docs_in": r.manifest.docs_in, "docs_out": r.manifest.docs_out}
                          for r in results], indent=2))
    return 0


def _report(args: argparse.Namespace) -> None:
    """The report of what the recipe wrote so far; a stage it planned and did not write is named."""
    from pathlib import Path

    from sctool.recipe import load_recipe
    from sctool.reporting import build_report

    recipe = load_recipe(args.recipe)
    wd = Path(args.workdir) if args.workdir else Path(recipe.get("workdir", Path(args.recipe).stem))
    expected = [(str(st.get("name", st.get("stage"))), wd / f"{i + 1:02d}-{st.get('name', st.get('stage'))}")
                for i, st in enumerate(recipe["stages"]) if isinstance(st, dict)]
    if not wd.exists():
        return
    res = build_report([wd], args.report or wd / "report.html", expected=expected)
    print(f"sctool run: report written to {res.path}", file=sys.stderr)
