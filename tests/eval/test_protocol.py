from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sctool.errors import ConfigError
from sctool.eval.protocol import (
    HUMANEVAL_STOP_WORDS,
    STARCODER_PROMPTED_PREFIX,
    GenerationSettings,
    code_prompt,
    mbpp_settings,
    model_prompt,
    stop_at_stop_words,
)


def reference_stop(text: str, words: list[str]) -> str:
    # shortest prefix of text that is followed by a stop word
    for end in range(len(text) + 1):
        if any(w and text.startswith(w, end) for w in words):
            return text[:end]
    return text


@given(st.text(alphabet="ab\n#c", max_size=40), st.lists(st.text(alphabet="ab\n#", min_size=1, max_size=3), max_size=4))
def test_stop_words_cut_at_the_earliest_occurrence(text: str, words: list[str]) -> None:
    assert stop_at_stop_words(text, words) == reference_stop(text, words)


def test_humaneval_stop_words_end_the_function() -> None:
    gen = "\n    return a + b\n\n\ndef helper():\n    pass\n"
    assert stop_at_stop_words(gen, HUMANEVAL_STOP_WORDS) == "\n    return a + b\n\n"


def test_protocol_defaults_are_starcoders() -> None:
    s = GenerationSettings()
    assert (s.temperature, s.top_p, s.top_k, s.max_length, s.strip_prompt) == (0.2, 0.95, 0, 512, True)
    assert "<file_sep>" in s.stop_words
    assert not mbpp_settings().strip_prompt


def test_prompt_stripping_and_prefix() -> None:
    s = GenerationSettings(prefix=STARCODER_PROMPTED_PREFIX)
    assert code_prompt("\n\ndef f():\n    \"\"\"doc\"\"\"\n", s) == 'def f():\n    """doc"""'
    assert model_prompt("def f():\n", s).startswith("<filename>solutions/solution_1.py\n")


@pytest.mark.parametrize(
    "kwargs", [{"n_samples": 0}, {"temperature": -1}, {"top_p": 0}, {"temperature": 0, "n_samples": 5}]
)
def test_invalid_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        GenerationSettings(**kwargs)
