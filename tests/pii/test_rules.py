"""Every rule against its own synthesised true positives and known false positives (gitleaks-style)."""

from __future__ import annotations

import random

import pytest

from sctool.pii import PII_TYPES, detect_pii, pii_rules

from .synth import GENERATORS

RULES = {r.id: r for r in pii_rules()}
SEEDS = [0, 1, 2]


def test_every_rule_has_a_generator_and_vice_versa():
    assert set(GENERATORS) == set(RULES), (
        f"rules without tests: {sorted(set(RULES) - set(GENERATORS))}; "
        f"tests without rules: {sorted(set(GENERATORS) - set(RULES))}"
    )


def test_rule_table_is_well_formed():
    for r in RULES.values():
        assert r.type in PII_TYPES
        assert r.description and r.kind in ("regex", "custom", "companion")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule_id", sorted(GENERATORS))
def test_true_positives(rule_id: str, seed: int):
    positives, _ = GENERATORS[rule_id](random.Random(f"{rule_id}/{seed}"))
    assert positives
    found = detect_pii([t for t, _ in positives])
    for (text, value), spans in zip(positives, found):
        got = [(text[s.start : s.end], s.rule) for s in spans]
        assert (value, rule_id) in got, f"{rule_id} missed its positive in {len(text)}-char text; found rules {[r for _, r in got]}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule_id", sorted(GENERATORS))
def test_known_false_positives(rule_id: str, seed: int):
    _, negatives = GENERATORS[rule_id](random.Random(f"{rule_id}/{seed}"))
    kind = RULES[rule_id].type
    found = detect_pii([t for t, _ in negatives])
    for (text, lookalike), spans in zip(negatives, found):
        pos = text.index(lookalike)
        hits = [s for s in spans if s.type == kind and s.start < pos + len(lookalike) and s.end > pos]
        assert not hits, f"{rule_id}: {kind} reported on a known false positive ({[s.rule for s in hits]})"
