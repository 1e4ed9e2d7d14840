"""``python -m train``: fit / export-hf / import-hf, with ``--help`` generated from the config dataclasses.

Options mirror the config tree: ``--optim.lr 1e-3``, ``--trainer.max_steps 200``, ``--model tiny``
(a preset) or ``--model.n_layer 4``. Values are YAML scalars (``null``, ``true``, ``[a, b]``), so
booleans are written out (``--trainer.compile true``) and never parse ``False`` as true. Layers apply
in order: defaults, each ``--config`` file, then command-line options; the result is checked by the
same typed conversion the YAML files go through and saved as ``OUT/config.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sctool.errors import ConfigError, SctoolError

SUBCOMMANDS = ("fit", "export-hf", "import-hf")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "{" + ",".join(str(a) for a in typing.get_args(tp)) + "}"
    if origin in (typing.Union, types.UnionType):
        return "|".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return "LIST"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp)).upper()


def _scalar_types(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    return (tp,)


def parse_value(text: str, tp: Any) -> Any:
    """A command-line string as the field's type: YAML scalars, plus floats YAML 1.1 misreads (``1e-3``)."""
    kinds = _scalar_types(tp)
    if str in kinds and len(kinds) == 1:
        return None if text in ("null", "~") and tp is not str else text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {text!r}: {exc}") from exc
    if isinstance(value, str) and float in kinds:
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _add_dataclass(parser: argparse.ArgumentParser, cls: type, prefix: str, fields_out: dict[str, Any]) -> None:
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(prefix.rstrip(".") or "run", (cls.__doc__ or "").strip().splitlines()[0])
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        name = prefix + f.name
        help_text = str(f.metadata.get("help", ""))
        if dataclasses.is_dataclass(tp):
            if name == "model":
                group.add_argument(
                    "--model", dest="model", metavar="PRESET", default=argparse.SUPPRESS,
                    help="model preset name (configs/model/*.yaml) or YAML path; --model.FIELD overrides one field",
                )
            _add_dataclass(parser, tp, name + ".", fields_out)
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = "" if default in (None, ()) else f" (default: {default})"
        kwargs: dict[str, Any] = {"dest": name, "metavar": _type_name(tp), "default": argparse.SUPPRESS}
        if bool in _scalar_types(tp):
            kwargs.update(nargs="?", const="true")
        group.add_argument(f"--{name}", help=(help_text + shown).replace("%", "%%"), **kwargs)
        fields_out[name] = tp


def build_fit_parser(prog: str = "python -m train fit") -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    from sctool.train.config import FitConfig

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train the StarCoder-style GPT on packed .bin/.idx data (Lightning).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--config", action="append", default=[], metavar="YAML",
        help="training config (a file, or a preset name under configs/train/); repeatable, later wins",
    )
    parser.add_argument("--print_config", "--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument(
        "--data", nargs="+", metavar="PREFIX", default=argparse.SUPPRESS,
        help="packed data: PREFIX, WEIGHT:PREFIX, a blend.yaml from `sctool tokenize --mix` (or its directory), "
        "or a directory of *.idx/*.bin pairs weighted by token count (sets data.sources)",
    )
    parser.add_argument("--tokenizer", metavar="JSON", default=argparse.SUPPRESS, help="sets data.tokenizer")
    fields: dict[str, Any] = {}
    _add_dataclass(parser, FitConfig, "", fields)
    return parser, fields


def read_blend(path: Path) -> list[dict[str, Any]]:
    """Sources of a ``blend.yaml`` written by ``sctool tokenize --mix`` (prefixes relative to the file)."""
    from sctool.train.config import load_yaml

    data = load_yaml(path)
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: a blend file needs a non-empty 'sources' list")
    out = []
    for e in entries:
        if not isinstance(e, dict) or "prefix" not in e:
            raise ConfigError(f"{path}: every source needs a prefix, got {e!r}")
        prefix = Path(str(e["prefix"]))
        prefix = prefix if prefix.is_absolute() else path.parent / prefix
        out.append({"prefix": str(prefix), "weight": float(e.get("weight", 1.0)), "name": str(e.get("name", ""))})
    return out


def expand_data_args(items: Sequence[str]) -> list[Any]:
    """``--data`` items -> source dicts; a directory contributes every packed file in it."""
    from sctool.packing.indexed import IndexedDataset

    sources: list[Any] = []
    for item in items:
        head, sep, tail = item.partition(":")
        weight = None
        if sep:
            try:
                weight = float(head)
                item = tail
            except ValueError:
                pass
        p = Path(item)
        if p.is_dir() and (p / "blend.yaml").exists():
            p = p / "blend.yaml"
        if p.suffix in (".yaml", ".yml"):
            sources.extend(read_blend(p))
        elif p.is_dir():
            idx = sorted(p.glob("*.idx"))
            if not idx:
                raise ConfigError(f"{p}: no packed data (*.idx + *.bin) in this directory")
            for f in idx:
                prefix = str(f.with_suffix(""))
                w = weight if weight is not None else float(max(IndexedDataset(prefix).num_tokens, 1))
                sources.append({"prefix": prefix, "weight": w})
        else:
            sources.append({"prefix": str(p), "weight": weight if weight is not None else 1.0})
    return sources


def resolve_fit_config(argv: Sequence[str], prog: str = "python -m train") -> tuple[Any, argparse.Namespace]:
    from sctool.config import config_to_dict
    from sctool.paths import find_config
    from sctool.train.config import FitConfig, deep_merge, fit_config_from_dict, load_yaml

    parser, fields = build_fit_parser(f"{prog} fit")
    args = parser.parse_args(list(argv))
    merged: dict[str, Any] = config_to_dict(FitConfig())
    for c in args.config:
        merged = deep_merge(merged, load_yaml(find_config("train", c)))
    ns = vars(args)
    if "model" in ns:
        merged = deep_merge(merged, {"model": ns["model"]})
    if "data" in ns:
        merged = deep_merge(merged, {"data": {"sources": expand_data_args(ns["data"])}})
    if "tokenizer" in ns:
        merged = deep_merge(merged, {"data": {"tokenizer": ns["tokenizer"]}})
    for name, tp in fields.items():
        if name not in ns:
            continue
        value = parse_value(ns[name], tp)
        node: dict[str, Any] = {}
        cur = node
        parts = name.split(".")
        for part in parts[:-1]:
            cur[part] = {}
            cur = cur[part]
        cur[parts[-1]] = value
        merged = deep_merge(merged, node)
    return fit_config_from_dict(merged, where="train config"), args


def cmd_fit(argv: Sequence[str], prog: str = "python -m train") -> int:
    from sctool.train.config import dump_yaml

    cfg, args = resolve_fit_config(argv, prog)
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    from sctool.train.fit import fit

    result = fit(cfg)
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:
        print(
            f"trained to step {result.global_step}; run directory {result.run_dir} "
            f"(metrics.csv, checkpoints/last.ckpt{'' if result.last_checkpoint else ' - none saved'})",
            file=sys.stderr,
        )
    return 0


def cmd_export_hf(argv: Sequence[str], prog: str = "python -m train") -> int:
    from sctool.model.hf_commands import EXPORT_DESCRIPTION, add_export_args, run_export

    parser = argparse.ArgumentParser(prog=f"{prog} export-hf", description=EXPORT_DESCRIPTION)
    add_export_args(parser)
    return run_export(parser.parse_args(list(argv)), f"{prog} export-hf")


def cmd_import_hf(argv: Sequence[str], prog: str = "python -m train") -> int:
    from sctool.model.hf_commands import IMPORT_DESCRIPTION, add_import_args, run_import

    parser = argparse.ArgumentParser(prog=f"{prog} import-hf", description=IMPORT_DESCRIPTION)
    add_import_args(parser)
    return run_import(parser.parse_args(list(argv)), f"{prog} import-hf")


def _usage(prog: str = "python -m train") -> str:
    return (
        f"usage: {prog} [fit] [--config YAML] [--section.field VALUE ...]\n"
        f"       {prog} export-hf MODEL|CHECKPOINT|RUN_DIR OUT_DIR [--tokenizer JSON]\n"
        f"       {prog} import-hf HF_DIR OUT_DIR\n\n"
        "commands:\n"
        f"  fit        train (the default command); `{prog} fit --help` lists every option\n"
        "  export-hf  write a checkpoint as a Hugging Face GPTBigCode directory\n"
        "  import-hf  convert a Hugging Face GPTBigCode directory into a model to fine-tune\n"
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m train") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage(prog))
        return 0
    command = "fit"
    if argv and argv[0] in SUBCOMMANDS:
        command = argv.pop(0)
    elif argv and not argv[0].startswith("-"):
        sys.stderr.write(_usage(prog))
        sys.stderr.write(f"\n{prog}: error: unknown command {argv[0]!r}\n")
        return 2
    handler = {"fit": cmd_fit, "export-hf": cmd_export_hf, "import-hf": cmd_import_hf}[command]
    try:
        return handler(argv, prog)
    except (SctoolError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        print(f"{prog} {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog} {command}: interrupted (rerun with the same --out to resume)", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("SCTOOL_DEBUG"):
            raise
        print(
            f"{prog} {command}: unexpected error: {type(exc).__name__}: {exc} "
            "(set SCTOOL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


__all__ = ["build_fit_parser", "main", "parse_value", "resolve_fit_config"]
