"""Context rules: what is and is not a value, across syntaxes (docs/pii.md states the policy).

Every secret here is synthesised at test time (random characters of the right shape); published
example values appear only as hashes inside the engine.
"""

from __future__ import annotations

import base64
import random
import string

import pytest

from sctool.pii import detect_pii

from .synth import ALNUM, password, rs

HEX = "0123456789abcdef"


def found(text: str) -> list[tuple[str, str]]:
    (spans,) = detect_pii([text])
    return [(text[s.start : s.end], s.type) for s in spans]


def types_at(text: str, value: str) -> set[str]:
    return {t for v, t in found(text) if v == value}


# ---- never values: identifiers, keys, expressions, paths, placeholders ----

@pytest.mark.parametrize("text", [
    "  x86_cpu_PAT\t\t= x86_cpu_index_1_edx + 16,\n  x86_cpu_PSE_36 = x86_cpu_index_1_edx + 17,\n",
    '_MAP = {\n    "client.secret-access-key": "s3.secret-access-key",\n    "client.session-token": "s3.session-token",\n}\n',
    "    key = 'arrow-datasets/nyc-taxi/year=2019/month=6/part-0.parquet'\n",
    'SPECIAL_REWARDS_KEY = "special_(double)_rewards"\n',
    'scheme_keywords = {\n    "passwd:gecos",\n    "passwd:shell",\n    "passwd:uid",\n}\n',
    'ret = {\n    "token": a,\n    "actions_ints_dreamed_t0_to_H_BxT": b,\n}\n',
    "API_KEY = 'your-api-key-here'\nSECRET = '<your-key>'\nTOKEN = 'xxxxxxxxxxxxxxxxxxxx'\nPASSWORD = 'changeme'\n",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
])
def test_not_secrets(text):
    assert not [f for f in found(text) if f[1] in ("KEY", "PASSWORD")], found(text)


def test_published_build_constant_is_not_a_secret():
    # The OpenSSL FIPS module integrity key is printed in every OpenSSL build tree.
    fips = "".join(["f4556650ac31d354", "61610bac4ed81b1a", "181b2d8a43ea2854", "cbae22ca74560813"])
    assert not found(f'#define FIPS_KEY_STRING "{fips}"\n')
    other = rs(random.Random(1), HEX, 64)
    assert types_at(f'#define FIPS_KEY_STRING "{other}"\n', other) == {"KEY"}


def test_allowlist_pragma_is_respected():
    pw = password(random.Random(2))
    assert types_at(f'DB_PASSWORD = "{pw}"\n', pw) == {"PASSWORD"}
    assert not found(f'DB_PASSWORD = "{pw}"  # pragma: allowlist secret\n')


# ---- IP addresses: OIDs, sections, versions, CIDR tables, placeholders ----

@pytest.mark.parametrize("text", [
    '#define GNUTLS_X509EXT_OID_INHIBIT_ANYPOLICY "2.5.29.54"\n',
    "oid = '2.5.4.42'\n",
    "/* 802.3ad port state definitions (43.4.2.2 in the 802.3ad standard) */\n",
    " *\tDefined by IEEE P802.11ay/D4.0 section 9.4.2.251. (u8 attribute)\n",
    "# using Guile 3.0.5.130-5a1e7.\n",
    " * $FreeBSD: src/include/rpc/types.h,v 1.10.6.1 2003/12/18 00:59:50 peter Exp $\n",
    "/* 3.8.2.2. Video Control Interrupt Endpoint Descriptor */\n",
    "RANGES = ['52.95.110.0/24', '192.88.99.0/24', '2600:1f00::/24']\n",
    'ray.init(address="ray://123.45.67.89:10001")\nproxy = "5.5.5.5"\nhost = "1.2.3.4"\n',
    "version = 1.2.3.4.5\n",
])
def test_not_addresses(text):
    assert not [f for f in found(text) if f[1] == "IP_ADDRESS"], found(text)


def test_real_addresses_still_found():
    for text, ip in [("server = 136.172.114.170\n", "136.172.114.170"),
                     ("raddr=addr(ip='93.186.135.91', port=80)\n", "93.186.135.91"),
                     ("ssh deploy@52.14.3.99\n", "52.14.3.99"),
                     ('p = parse_url("ws://[2a03:4000:123:83::3]/r")\n', "2a03:4000:123:83::3")]:
        assert types_at(text, ip) == {"IP_ADDRESS"}, text


# ---- value positions across syntaxes ----

def test_escaped_json_inside_a_string():
    pw = password(random.Random(3))
    text = f'body = "{{\\"user\\": \\"ops\\", \\"password\\": \\"{pw}\\"}}"\n'
    assert types_at(text, pw) == {"PASSWORD"}


def test_sql_account_statements():
    pw = password(random.Random(4))
    for text in [f"CREATE USER 'app'@'%' IDENTIFIED BY '{pw}';\n", f"ALTER ROLE app WITH PASSWORD '{pw}';\n",
                 f"CREATE USER app WITH ENCRYPTED PASSWORD '{pw}';\n"]:
        assert types_at(text, pw) == {"PASSWORD"}, text


def test_basic_auth_header_decodes_to_credentials():
    pw = password(random.Random(5))
    b64 = base64.b64encode(f"svc-deploy:{pw}".encode()).decode()
    assert types_at(f"Authorization: Basic {b64}\n", b64) == {"PASSWORD"}
    # Not user:password once decoded (a word, a placeholder): nothing.
    for plain in ["username:password", "just-some-text-here"]:
        enc = base64.b64encode(plain.encode()).decode()
        assert not found(f"Authorization: Basic {enc}\n")


def test_headers_and_cli_flags():
    r = random.Random(6)
    k = rs(r, ALNUM, 32)
    for text in [f"curl -H 'X-API-Key: {k}' https://api.svc.io/v1\n", f"Private-Token: {k}\n",
                 f"mycli deploy --api-key {k} --region eu\n", f"tool --auth-token={k}\n"]:
        assert types_at(text, k) == {"KEY"}, text
    assert not found("curl -H 'X-API-Key: $API_KEY' https://api.svc.io\n")
    assert not found("cli --token-file ./secrets/token.txt\n")


@pytest.mark.parametrize("prefix,alphabet,n", [
    ("dapi", HEX, 32), ("lin_api_", ALNUM, 40), ("pul-", HEX, 40), ("rubygems_", HEX, 48), ("NRAK-", string.ascii_uppercase + string.digits, 27),
    ("sbp_", HEX, 40), ("r8_", ALNUM, 37), ("gsk_", ALNUM, 52), ("dckr_pat_", ALNUM, 27), ("GOCSPX-", ALNUM, 28),
    ("hvs.", ALNUM, 90), ("fo1_", ALNUM, 43),
])
def test_provider_prefixes(prefix, alphabet, n):
    tok = prefix + rs(random.Random(n), alphabet, n)
    assert types_at(f"export TOK={tok}\n", tok) == {"KEY"}
    assert types_at(f"see ({tok}) here", tok) == {"KEY"}
    assert not found(f"x = '{prefix}{'x' * n}'\n")


# ---- names in every script ----

@pytest.mark.parametrize("text,name", [
    ("# Author: José María de la Cruz <jm@orchardline.co>\n", "José María de la Cruz"),
    ('authors = ["Zoë Ångström-Berg <zoe@orchardline.co>"]\n', "Zoë Ångström-Berg"),
    ("Copyright (c) 2021 Ludwig van der Berg\n", "Ludwig van der Berg"),
    ("# 作者: 张伟明 <zwm@orchardline.co>\n", "张伟明"),
    ("Автор: Сергей Иванов\n", "Сергей Иванов"),
    ("Author: 김민준 <mj@orchardline.co>\n", "김민준"),
])
def test_names_in_many_scripts(text, name):
    assert types_at(text, name) == {"NAME"}, found(text)
