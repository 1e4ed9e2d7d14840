"""The end-of-stage summary: docs and bytes in/out, removals by reason, speed."""

from __future__ import annotations

import json
from typing import Any

from sctool.io.dataset import Manifest

# Counters worth a line in the summary (the manifest has them all).
SUMMARY_COUNTERS = {"pii_by_type": "findings by type", "parse_guard": "parse guard"}


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def summary_dict(m: Manifest) -> dict[str, Any]:
    d = m.to_dict()
    secs = max(m.seconds, 1e-9)
    d["mb_per_s"] = round(m.stats.bytes_in / 1e6 / secs, 2)
    return d


def format_summary(m: Manifest) -> str:
    st = m.stats
    secs = max(m.seconds, 1e-9)
    removed = st.docs_in - st.docs_out
    if m.stage == "train-tokenizer":
        # Tokenizer training reads documents up to a text budget; it removes nothing.
        return (f"sctool train-tokenizer: trained on {st.docs_out:,} of {st.docs_in:,} docs "
                f"({_mb(st.bytes_in)} available), vocabulary {m.extra.get('vocab_size', '?')}; {m.seconds:.2f} s\n"
                f"  output: {m.output}")
    lines = [
        f"sctool {m.stage}: {st.docs_in:,} docs in -> {st.docs_out:,} out ({removed:,} removed)",
        f"  bytes: {_mb(st.bytes_in)} in -> {_mb(st.bytes_out)} out; {m.seconds:.2f} s, "
        f"{st.bytes_in / 1e6 / secs:,.1f} MB/s",
    ]
    skipped = m.extra.get("skipped") or {}
    if st.removed or skipped:
        width = max(len(r) for r in [*st.removed, *skipped, "reason"])
        lines.append(f"  {'reason':<{width}}  {'docs':>10}  {'MB':>10}")
        for reason, n in sorted(st.removed.items(), key=lambda kv: -kv[1]):
            b = st.removed_bytes.get(reason, 0)
            lines.append(f"  {reason:<{width}}  {n:>10,}  {b / 1e6:>10.2f}")
    for key, label in SUMMARY_COUNTERS.items():
        val = st.counters.get(key)
        if isinstance(val, dict) and val:
            items = ", ".join(f"{k} {v:,}" for k, v in sorted(val.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {label}: {items}")
    if m.extra.get("malformed_lines"):
        lines.append(f"  malformed input lines skipped: {m.extra['malformed_lines']:,}")
        for s in m.extra.get("malformed_line_samples", [])[:3]:
            lines.append(f"    {s}")
    if m.extra.get("resumed_parts"):
        lines.append(f"  resumed: {m.extra['resumed_parts']} part(s) reused from an interrupted run")
    lines.append(f"  output: {m.output}")
    return "\n".join(lines)


def summary_json(m: Manifest) -> str:
    return json.dumps(summary_dict(m), indent=2, default=str)
