"""sctool run RECIPE.yaml"""

from __future__ import annotations

import argparse
import json


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.recipe import run_recipe

    overrides = {"threads": args.threads} if args.threads is not None else {}
    results = run_recipe(args.recipe, workdir=args.workdir, runtime_overrides=overrides,
                         quiet=args.quiet, echo=not args.json)
    if args.json:
        print(json.dumps([{"name": r.name, "output": str(r.output), "skipped": r.skipped,
                           "docs_in": r.manifest.docs_in, "docs_out": r.manifest.docs_out}
                          for r in results], indent=2))
    return 0
