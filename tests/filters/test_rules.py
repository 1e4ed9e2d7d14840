"""Every StarCoder rule on crafted documents just below, at and just above its threshold, plus the
other presets and the rules-file schema."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sctool.errors import ConfigError
from sctool.filters import evaluate, load_rules
from sctool.filters.rules import available_presets

STARCODER = load_rules(["starcoder"])
FILLER = "x = 1\n" * 30  # 30 short lines keep the average line length low


def reason(content: str, path: str, lang: str, rules=STARCODER, **cols) -> str | None:
    df = pl.DataFrame({"content": [content], "path": [path], "lang": [lang], **{k: [v] for k, v in cols.items()}})
    return evaluate(df, rules).reason[0]


def line(n: int) -> str:
    return "a" * n + "\n"


@pytest.mark.parametrize(("length", "expected"), [(999, None), (1000, None), (1001, "long_line")])
def test_long_line_1000(length: int, expected: str | None) -> None:
    assert reason(line(length) + FILLER, "m.py", "python") == expected


@pytest.mark.parametrize(("length", "expected"), [(499, None), (500, None), (501, "long_line")])
def test_long_line_fsh_is_500(length: int, expected: str | None) -> None:
    assert reason(line(length) + FILLER, "s.fsh", "glsl") == expected


@pytest.mark.parametrize("path", ["r.md", "t.tex", "q.sql", "a.r", "CMakeLists.cmake"])
def test_no_line_filters_where_the_table_removes_them(path: str) -> None:
    assert reason(line(5000), path, "") is None


@pytest.mark.parametrize(("width", "expected"), [(99, None), (100, None), (101, "avg_line_length")])
def test_average_line_length_100(width: int, expected: str | None) -> None:
    assert reason(line(width) * 10, "m.py", "python") == expected


@pytest.mark.parametrize(("alnum", "expected"), [(99, "alphanum_fraction"), (100, None), (101, None)])
def test_alphanumeric_fraction_025(alnum: int, expected: str | None) -> None:
    # 400 characters, `alnum` of them alphanumeric: 0.2475 / 0.25 / 0.2525.
    doc = ("a" * alnum + "+" * (400 - alnum - 8)).ljust(392, "+")
    doc = "\n".join(doc[i:i + 49] for i in range(0, 392, 49)) + "\n"
    assert len(doc) == 400
    assert reason(doc, "m.py", "python") == expected


def test_alphanumeric_not_applied_to_sas() -> None:
    assert reason("+" * 50 + "\n", "x.sas", "sas") is None


def json_doc(n: int, letters: int) -> str:
    body = "a" * letters + "1" * (n - letters - 2)
    return '"' + body + '"'


@pytest.mark.parametrize(("letters", "expected"), [(99, "alpha_fraction"), (100, None), (101, None)])
def test_json_alpha_fraction_05(letters: int, expected: str | None) -> None:
    assert reason(json_doc(200, letters), "d.json", "json") == expected


def yaml_doc(letters: int) -> str:
    """200 characters in 5 lines of 40; `letters` of them alphabetic."""
    body = "a" * letters + "1" * (195 - letters)
    return "".join(body[i:i + 39] + "\n" for i in range(0, 195, 39))


@pytest.mark.parametrize("path", ["c.yaml", "c.yml"])
def test_yaml_alpha_fraction_05(path: str) -> None:
    assert len(yaml_doc(99)) == 200
    assert reason(yaml_doc(99), path, "yaml") == "alpha_fraction"
    assert reason(yaml_doc(100), path, "yaml") is None


def test_alpha_fraction_off_by_default() -> None:
    assert reason("1 + 2 = 3\n" * 5, "m.py", "python") is None  # alpha 0, alnum 0.3
    assert reason("1 + 2 = 3\n" * 5, "m.y", "yacc") == "alpha_fraction"  # the table sets 0.25 for .y


@pytest.mark.parametrize(("size", "expected"), [(99, "json_yaml_size"), (100, None), (5000, None),
                                                (5001, "json_yaml_size")])
def test_json_size_window(size: int, expected: str | None) -> None:
    assert reason(json_doc(size, size - 2), "d.json", "json") == expected


@pytest.mark.parametrize(("pad", "expected"), [(85, "xml_header"), (86, "xml_header"), (87, None)])
def test_xml_header_first_100_chars(pad: int, expected: str | None) -> None:
    doc = " " * pad + "<?xml version=\"1.0\"?>\n<config>value</config>\n" + FILLER
    assert reason(doc, "a.java", "java") == expected


@pytest.mark.parametrize("path", ["t.xsl", "t.xslt"])
def test_xml_filter_off_for_xslt(path: str) -> None:
    assert reason("<?xml version=\"1.0\"?>\n<xsl:stylesheet/>\n", path, "xslt") is None


@pytest.mark.parametrize(("visible", "total", "expected"), [
    (200, 999, None),                  # fraction 0.2002: kept
    (200, 1000, "html_visible_text"),  # fraction exactly 0.2: dropped
    (200, 1001, "html_visible_text"),
    (101, 300, None),                  # 101 visible characters: kept
    (100, 300, "html_visible_text"),   # exactly 100: dropped
    (99, 300, "html_visible_text"),
])
def test_html_visible_text(visible: int, total: int, expected: str | None) -> None:
    # Markup on short lines, so only the HTML rule can fire.
    doc = "<p>" + "w" * visible + "</p>\n"
    doc += "<i></i>\n" * ((total - len(doc)) // 8)
    doc += " " * (total - len(doc))  # trailing whitespace is not visible text
    assert len(doc) == total
    assert reason(doc, "index.html", "html") == expected


def test_excluded_extensions() -> None:
    assert reason("(define x 1)\n", "a.rkt", "racket") == "excluded_extension"
    assert reason("(define x 1)\n", "a.scrbl", "racket") is None


def test_language_without_path_uses_its_first_extension() -> None:
    df = pl.DataFrame({"content": [json_doc(50, 48)], "lang": ["json"]})
    assert evaluate(df, STARCODER).reason[0] == "json_yaml_size"


def test_first_rule_is_the_reason_and_all_fired_are_listed() -> None:
    df = pl.DataFrame({"content": ["+" * 1200], "path": ["a.py"], "lang": ["python"]})
    res = evaluate(df, STARCODER)
    assert res.reason[0] == "long_line"
    assert res.fired[0].to_list() == ["long_line", "avg_line_length", "alphanum_fraction"]


def test_null_documents_are_kept() -> None:
    df = pl.DataFrame({"content": pl.Series([None], dtype=pl.String), "path": ["a.py"], "lang": ["python"]})
    assert evaluate(df, STARCODER).reason[0] is None


# --- the other presets -------------------------------------------------------------------------

AUTOGEN = load_rules(["starcoder", "autogen"])
AUTOGEN_ONLY = load_rules(["autogen"])


@pytest.mark.parametrize(("doc", "expected"), [
    ("// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n", "generated_marker"),
    ("# @generated\nx = 1\n", "generated_marker"),
    ("a\nb\nc\nd\ne\n# do not edit\n", None),  # marker after the first 5 lines
    ("x = 1\n", None),
])
def test_autogen_markers(doc: str, expected: str | None) -> None:
    assert reason(doc, "a.go", "go", AUTOGEN) == expected


def test_minified_detection() -> None:
    minified = "function(n){return n.map(function(t){return t*2})};" * 8 + "\n"  # 408 chars, 4% spaces
    readable = ("var a = 1; " * 20 + "\n") * 3
    assert reason(minified, "app.js", "javascript", AUTOGEN_ONLY) == "minified_content"
    assert reason(readable, "app.js", "javascript", AUTOGEN_ONLY) is None
    assert reason(readable, "app.min.js", "javascript", AUTOGEN_ONLY) == "minified_name"
    assert "minified_content" not in {r.name for r in STARCODER.rules}  # an sctool addition, opt-in


@pytest.mark.parametrize(("stars", "expected"), [(4, "stars"), (5, "stars"), (6, None), (None, "stars")])
def test_santacoder_stars(stars: int | None, expected: str | None) -> None:
    rules = load_rules(["santacoder"], [], tokenizer="unused.json")
    rules = rules.__class__(**{**rules.__dict__, "rules": tuple(r for r in rules.rules if r.name == "stars")})
    df = pl.DataFrame({"content": ["x = 1\n"], "max_stars_count": pl.Series([stars], dtype=pl.Int64)})
    assert evaluate(df, rules).reason[0] == expected


def only(preset: str, name: str, **kw):
    rs = load_rules([preset], [], **kw)
    return rs.__class__(**{**rs.__dict__, "rules": tuple(r for r in rs.rules if r.name == name)})


@pytest.mark.parametrize(("comment_chars", "expected"), [(1, "comment_ratio"), (2, None), (50, None),
                                                         (80, "comment_ratio")])
def test_santacoder_comment_ratio(comment_chars: int, expected: str | None) -> None:
    # 100 characters in total, `comment_chars` of them in a # comment.
    comment = "#" + "c" * (comment_chars - 1) + "\n"
    code = "y" * (100 - len(comment) - 1) + "\n"
    doc = code + comment
    assert len(doc) == 100 + 1 - 1
    assert reason(doc, "m.py", "python", only("santacoder", "comment_ratio", tokenizer="unused.json")) == expected


def test_santacoder_fertility(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "abcdef": 1, "a": 2, "b": 3, "c": 4, "d": 5, "e": 6, "f": 7}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tok.json"
    tok.save(str(path))
    rules = only("santacoder", "fertility", tokenizer=str(path))
    # "abcdef" is one token of 6 characters; "a b c" is 3 tokens for 5 characters (1.67 < 2.5).
    assert reason("abcdef", "m.py", "python", rules) is None
    assert reason("a b c", "m.py", "python", rules) == "fertility"
    assert reason("a b c", "m.go", "go", rules) is None  # no bound for Go


def test_fertility_needs_a_tokenizer() -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        load_rules(["santacoder"])


# --- the rules schema -------------------------------------------------------------------------

def test_presets_are_listed() -> None:
    assert {"starcoder", "autogen", "santacoder"} <= set(available_presets())
    with pytest.raises(ConfigError, match="unknown filter preset"):
        load_rules(["nope"])


def test_user_rules_replace_and_add(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(
        "rules:\n"
        "  - name: long_line\n    when: {stat: max_line_length, op: '>', value: 80}\n"
        "  - name: tiny\n    when: {stat: n_chars, op: '<', value: 10}\n"
        "  - name: xml_header\n    enabled: false\n    when: {stat: xml_header, op: '==', value: true}\n"
    )
    rules = load_rules(["starcoder"], [f])
    names = [r.name for r in rules.rules]
    assert names.index("long_line") == 1 and names[-1] == "tiny"
    assert reason(line(81) + FILLER, "m.py", "python", rules) == "long_line"
    assert reason("x=1", "m.py", "python", rules) == "tiny"
    assert reason("<?xml version='1.0'?>" + "\n" + FILLER, "m.java", "java", rules) is None


@pytest.mark.parametrize(("text", "message"), [
    ("rules: [{name: a, when: {stat: n_chars, op: '~', value: 1}}]", "op must be one of"),
    ("rules: [{name: a, when: {stat: n_chars, op: '<', value: 1}, colour: red}]", "unknown keys"),
    ("rules: [{name: a}]", "exactly one of"),
    ("rules: [{name: 'bad name', when: {stat: n_chars, op: '<', value: 1}}]", "rule needs a 'name'"),
    ("rules: [{name: a, when: {stat: path, op: matches, value: '('}}]", "invalid regular expression"),
    ("rules: {a: 1}", "'rules' list"),
    ("rules: [ {", "not valid YAML"),
])
def test_bad_rules_files_name_the_file_and_problem(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as exc:
        load_rules([], [f])
    assert "bad.yaml" in str(exc.value)


def test_rules_round_trip_through_the_manifest_form(tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "dump.yaml"
    f.write_text(yaml.safe_dump(AUTOGEN.to_dict()))
    again = load_rules([], [f])
    assert [r for r in again.rules] == [r for r in AUTOGEN.rules]
    assert again.generated_markers == AUTOGEN.generated_markers
