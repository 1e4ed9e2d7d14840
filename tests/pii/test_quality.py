"""Quality regression on the public PII evaluation split (../shared; skipped when absent).

The thresholds are the issue's targets; the benchmark report gives the full per-type table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sctool.pii import detect_pii
from sctool.pii.evaluate import TypeScore, load_records, score

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pii" / "pii-public.jsonl"
TARGETS = {"EMAIL": 0.95, "IP_ADDRESS": 0.95, "KEY": 0.95, "PASSWORD": 0.90, "NAME": 0.85}


@pytest.fixture(scope="module")
def scores():
    if not DATA.exists():
        pytest.skip("shared PII evaluation data not present")
    recs = load_records(DATA)
    preds = detect_pii([r["text"] for r in recs])
    return score(recs, [[(s.start, s.end, s.type) for s in p] for p in preds], [*TARGETS, "USERNAME"])


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_f1_meets_target(scores, kind):
    sc: TypeScore = scores.lenient[kind]
    assert sc.f1 >= TARGETS[kind], f"{kind}: P {sc.precision:.3f} R {sc.recall:.3f} F1 {sc.f1:.3f}"


def test_hard_negatives_rarely_flagged(scores):
    assert scores.negative_fp_rate <= 0.01


def test_scorer_matches_by_type_and_overlap():
    recs = [{"spans": [{"start": 0, "end": 5, "type": "KEY"}, {"start": 10, "end": 12, "type": "NAME"}],
             "negatives": [{"start": 20, "end": 25, "kind": "uuid"}]}]
    sc = score(recs, [[(2, 4, "KEY"), (10, 12, "EMAIL"), (21, 22, "KEY")]], ["KEY", "NAME", "EMAIL"])
    assert (sc.lenient["KEY"].tp, sc.lenient["KEY"].fp) == (1, 1)
    assert sc.exact["KEY"].tp == 0 and sc.lenient["NAME"].fn == 1 and sc.lenient["EMAIL"].fp == 1
    assert sc.negatives_flagged == 1
