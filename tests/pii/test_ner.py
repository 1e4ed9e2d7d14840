"""--ner-model plumbing with a tiny randomly initialised token-classification model built here."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sctool.pii import redact
from sctool.pii.ner import NerModel, keep_entity, label_type

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LABELS = ["O", "B-NAME", "I-NAME", "B-KEY", "I-KEY", "B-EMAIL", "I-EMAIL"]


def build_model(path: Path, texts: list[str], force_label: str) -> None:
    """A 1-layer BERT whose classifier always predicts ``force_label`` (bias-only head)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for t in texts for w in pre_tokenizers.Whitespace().pre_tokenize_str(t) for w in [w[0]]})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(path)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=64,
                                  id2label=dict(enumerate(LABELS)), label2id={v: i for i, v in enumerate(LABELS)})
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(cfg)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-10.0)
        model.classifier.bias[LABELS.index(force_label)] = 10.0
    model.save_pretrained(path)


def test_label_mapping_and_post_filters():
    assert label_type("B-NAME") == "NAME" and label_type("I-IP_ADDRESS") == "IP_ADDRESS"
    assert label_type("B-EMAIL_EXAMPLE") is None and label_type("O") is None
    assert not keep_entity("NAME", "Kalo") and keep_entity("NAME", "Kalo Ren")
    assert not keep_entity("KEY", "short") and not keep_entity("IP_ADDRESS", "10.0.0.1")


def test_model_spans_merge_with_rule_spans(tmp_path: Path):
    texts = ["contact kalo.ren99@tasvo-belmar.io with averylongtokenvalue now", "tiny words only"]
    build_model(tmp_path / "m", texts, "B-KEY")
    ner = NerModel.load(tmp_path / "m", window=8)
    out = redact(pl.DataFrame({"content": texts}), ner=ner)
    spans = out["pii"].to_list()
    by = {(texts[0][s["start"] : s["end"]], s["type"], s["rule"]) for s in spans[0]}
    # The rule's e-mail wins over the model's overlapping token spans; the long token is the model's.
    assert ("kalo.ren99@tasvo-belmar.io", "EMAIL", "email") in by
    assert ("averylongtokenvalue", "KEY", "ner:m") in by
    assert all(len(texts[0][s["start"] : s["end"]]) > 8 for s in spans[0] if s["type"] == "KEY")
    assert spans[1] == []  # every token is shorter than a key may be
    assert out["content"][0] == "contact <EMAIL> with <KEY> now"


def test_names_need_two_words_across_window_boundaries(tmp_path: Path):
    texts = ["Kalo Ren Tasvo wrote this"]
    build_model(tmp_path / "n", texts, "I-NAME")
    ner = NerModel.load(tmp_path / "n", window=4)  # 2 tokens per window: entities split at the boundary
    preds = ner.predict(texts)
    assert preds[0] and all(t == "NAME" for _, _, t in preds[0])
    assert all(len(texts[0][s:e].split()) >= 2 for s, e, _ in preds[0])


def test_bad_model_dir_is_a_config_error(tmp_path: Path):
    from sctool.errors import ConfigError

    with pytest.raises(ConfigError):
        NerModel.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError):
        NerModel.load(tmp_path / "empty")


def test_merge_keeps_rule_spans_on_overlap():
    import numpy as np

    from sctool.pii import SpanTable
    from sctool.pii.ner import merge_spans

    table = SpanTable(2, np.array([0]), np.array([5]), np.array([10]), np.array([2], np.uint8), np.array([0]),
                      ("secret-assignment",))
    merged = merge_spans(table, [[(8, 14, "PASSWORD"), (20, 25, "NAME")], [(0, 3, "EMAIL")]], "ner:m")
    got = [(s.start, s.end, s.type, s.rule) for doc in merged.per_doc() for s in doc]
    assert got == [(5, 10, "KEY", "secret-assignment"), (20, 25, "NAME", "ner:m"), (0, 3, "EMAIL", "ner:m")]
