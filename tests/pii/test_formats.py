"""Table-driven: the same kinds of values in many file formats the rules were not written around.

Each case is a template whose ``{name}`` slots are filled with fresh synthetic values; every filled
value must be reported with its type, and every ``§lookalike`` (written literally) must not be.
"""

from __future__ import annotations

import random

import pytest

from sctool.pii import detect_pii

from .synth import ALNUM, HEX, email_of, github_token, global_ipv4, handle, password, person, rs

CASES: dict[str, tuple[str, dict[str, str]]] = {
    "terraform": (
        'resource "aws_db_instance" "db" {\n  username = "{user}"\n  password = "{pw}"\n}\n'
        'provider "aws" {\n  access_key = "{akia}"\n  secret_key = "{awssecret}"\n  region = "eu-west-1"\n}\n',
        {"user": "USERNAME", "pw": "PASSWORD", "akia": "KEY", "awssecret": "KEY"},
    ),
    "php": (
        "<?php\n// Author: {name} <{mail}>\n$db_host = '{ip}';\n$db_pass = '{pw}';\n$api_token = \"{hex}\";\n",
        {"name": "NAME", "mail": "EMAIL", "ip": "IP_ADDRESS", "pw": "PASSWORD", "hex": "KEY"},
    ),
    "csharp_connection_string": (
        '"ConnectionStrings": {\n  "Default": "Server={ip};Database=shop;User Id={user};Password={pw};"\n}\n',
        {"ip": "IP_ADDRESS", "pw": "PASSWORD"},
    ),
    "ruby": (
        "Rails.application.configure do\n  config.action_mailer.smtp_settings = {\n    user_name: '{mail}',\n"
        "    password: '{pw}',\n    address: 'smtp.mailgun.org'\n  }\n  config.secret_key_base = '{hex}'\nend\n",
        {"mail": "EMAIL", "pw": "PASSWORD", "hex": "KEY"},
    ),
    "go_struct": (
        "var cfg = Config{\n\tHost:     \"{ip}\",\n\tPassword: \"{pw}\",\n\tToken:    \"{b64}\",\n}\n"
        "// request id namespace: §6ba7b810-9dad-11d1-80b4-00c04fd430c8\n",
        {"ip": "IP_ADDRESS", "pw": "PASSWORD", "b64": "KEY"},
    ),
    "kotlin_gradle": (
        "publishing {\n  repositories {\n    maven {\n      credentials {\n        username = \"{user}\"\n"
        "        password = \"{pw}\"\n      }\n    }\n  }\n}\n// checksum §d2f1c0ffee88d2f1c0ffee88d2f1c0ffee88d2f1\n",
        {"user": "USERNAME", "pw": "PASSWORD"},
    ),
    "xml": (
        "<datasource>\n  <url>jdbc:postgresql://{ip}:5432/app</url>\n  <username>{user}</username>\n"
        "  <password>{pw}</password>\n</datasource>\n<!-- maintainer: {name} -->\n",
        {"ip": "IP_ADDRESS", "user": "USERNAME", "pw": "PASSWORD", "name": "NAME"},
    ),
    "shell_history": (
        "curl -u {user}:{pw} https://{ip}/api\nmysql -h db -u app -p'{pw2}' orders\nscp dump.sql {user2}@{ip2}:/tmp\n",
        {"pw": "PASSWORD", "ip": "IP_ADDRESS", "pw2": "PASSWORD", "user2": "USERNAME", "ip2": "IP_ADDRESS"},
    ),
    "python_requests": (
        'HEADERS = {"Authorization": "Bearer {b64}", "User-Agent": "bot/1.0"}\n'
        "GH = '{ghp}'\nlocal = '§192.168.1.20'\ndns = '§1.1.1.1'\n",
        {"b64": "KEY", "ghp": "KEY"},
    ),
    "yaml_helm": (
        "image:\n  repository: nginx\n  tag: §1.25.3\nauth:\n  adminUser: {user}\n  adminPassword: {pw}\n"
        "  jwtSecret: {b64}\nservice:\n  loadBalancerIP: {ip}\n",
        {"user": "USERNAME", "pw": "PASSWORD", "b64": "KEY", "ip": "IP_ADDRESS"},
    ),
    "rst_authors": (
        "Authors\n=======\n\n* {name} <{mail}>\n* {name2} (@{h})\n\nThanks to @{h2} for the review.\n",
        {"name": "NAME", "mail": "EMAIL", "name2": "NAME", "h": "USERNAME", "h2": "USERNAME"},
    ),
    "python_docstring": (
        '"""Sync tool.\n\n:copyright: (c) 2019 by {name}.\n:license: BSD\n"""\n\nSERVERS = ["{ip}", "{ip6}"]\n'
        "VERSION = '§4.2.1.0'\n",
        {"name": "NAME", "ip": "IP_ADDRESS", "ip6": "IP_ADDRESS"},
    ),
    "ini_pypirc": (
        "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {pypi}\n",
        {"pypi": "KEY"},
    ),
    "java_annotations": (
        "/**\n * Service facade.\n * @author {name}\n * @since 1.2\n */\n@Service\npublic class Billing {\n"
        "    @Value(\"${billing.token}\")\n    private String token;\n}\n",
        {"name": "NAME"},
    ),
    "lookalikes_only": (
        "sha256 = '§e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n"
        "integrity=\"§sha512-Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy\"\n"
        "uuid = '§123e4567-e89b-12d3-a456-426614174000'\nAPI_KEY=§<paste-your-key>\npassword: '§${PASSWORD}'\n"
        "server 10.0.0.7\nnameserver §8.8.4.4\nsee §docs@example.org and §logo@3x.png\n@§Deprecated\n",
        {},
    ),
}


def fill(template: str, rng: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    gens = {
        "user": lambda: handle(rng), "user2": lambda: handle(rng), "pw": lambda: password(rng),
        "pw2": lambda: password(rng), "ip": lambda: global_ipv4(rng), "ip2": lambda: global_ipv4(rng),
        "ip6": lambda: f"2a05:{rng.randint(0x1000, 0xffff):x}:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xfff):x}",
        "mail": lambda: email_of(rng), "name": lambda: person(rng), "name2": lambda: person(rng),
        "h": lambda: handle(rng), "h2": lambda: handle(rng), "hex": lambda: rs(rng, HEX, 64),
        "b64": lambda: rs(rng, ALNUM, 40), "ghp": lambda: github_token(rng),
        "akia": lambda: "AKIA" + rs(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        "awssecret": lambda: rs(rng, ALNUM + "+/", 40),
        "pypi": lambda: "pypi-AgEIcHlwaS5vcmc" + rs(rng, ALNUM, 70),
    }
    values: dict[str, str] = {}
    text = template
    for key in sorted(gens, key=len, reverse=True):
        slot = "{" + key + "}"
        if slot in text:
            values[key] = gens[key]()
            text = text.replace(slot, values[key])
    lookalikes = []
    while "§" in text:
        i = text.index("§")
        j = i + 1
        while j < len(text) and text[j] not in "\n\"' ":
            j += 1
        lookalikes.append(text[i + 1 : j])
        text = text[:i] + text[i + 1 :]
    return text, list(values.items()), lookalikes


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", sorted(CASES))
def test_format(case: str, seed: int):
    template, expected = CASES[case]
    text, values, lookalikes = fill(template, random.Random(f"{case}/{seed}"))
    (spans,) = detect_pii([text])
    found = {(text[s.start : s.end], s.type) for s in spans}
    for key, value in values:
        if key in expected:
            assert (value, expected[key]) in found, f"{case}: missed {expected[key]} slot {{{key}}}"
    for la in lookalikes:
        pos = text.index(la)
        bad = [s for s in spans if s.start < pos + len(la) and s.end > pos]
        assert not bad, f"{case}: look-alike reported as {[(s.type, s.rule) for s in bad]}"
