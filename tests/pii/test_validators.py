"""Name/value-pair contexts and the context validators that keep identifiers, tables and
documentation values out of KEY findings (docs/pii.md states the policy).

Secrets are synthesised at test time; assertion messages name rules and types, never values.
"""

from __future__ import annotations

import random
import string

import pytest

from sctool.pii import detect_pii

from .synth import ALNUM, HEX, password, rs


def spans_of(text: str) -> list[tuple[str, str, str]]:
    (spans,) = detect_pii([text])
    return [(text[s.start : s.end], s.type, s.rule) for s in spans]


def kinds_at(text: str, value: str) -> set[str]:
    return {t for v, t, _ in spans_of(text) if v == value}


@pytest.fixture(params=[0, 1, 2])
def rng(request) -> random.Random:
    return random.Random(f"validators/{request.param}")


# ---- name/value pairs: the secret-named identifier is data, the literal is a sibling field ----

def test_xml_key_value_attributes(rng):
    k, pw = rs(rng, ALNUM, 32), password(rng)
    assert kinds_at(f'<appSettings>\n  <add key="ApiSecret" value="{k}" />\n</appSettings>\n', k) == {"KEY"}
    assert kinds_at(f'<property name="password" value="{pw}"/>\n', pw) == {"PASSWORD"}
    assert kinds_at(f"<add key='StripeToken' value='{k}'/>", k) == {"KEY"}


def test_kubernetes_env_name_value(rng):
    k, pw = rs(rng, ALNUM, 32), password(rng)
    text = (f"env:\n  - name: DB_PASSWORD\n    value: \"{pw}\"\n  - name: API_TOKEN\n    value: {k}\n"
            "  - name: LOG_LEVEL\n    value: info\n")
    assert kinds_at(text, pw) == {"PASSWORD"}
    assert kinds_at(text, k) == {"KEY"}
    assert not kinds_at(text, "info")


def test_json_name_value_objects(rng):
    k = rs(rng, ALNUM, 32)
    assert kinds_at(f'"environment": [{{"name": "API_TOKEN", "value": "{k}"}}]\n', k) == {"KEY"}
    pretty = f'{{\n  "name": "SERVICE_SECRET",\n  "value": "{k}"\n}}\n'
    assert kinds_at(pretty, k) == {"KEY"}


@pytest.mark.parametrize("text", [
    "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password\n",
    '<input type="password" name="password" value="" />\n',
    '<input name="api_key" value="{{ form.api_key }}" />\n',
    '<add key="ApiSecret" value="${API_SECRET}" />\n',
    '<param name="tokenName" value="session_token_header_name" />\n',
])
def test_name_value_pairs_without_literal(text):
    assert not [t for _, t, _ in spans_of(text) if t in ("KEY", "PASSWORD")]


# ---- identifiers, object keys and protocol tokens are not keys ----

def test_value_the_document_calls_an_id(rng):
    k = rs(rng, ALNUM, 40)
    doc = f"aws apigateway get-api-key --api-key {k}\n\nOutput::\n\n  {{\n      \"id\": \"{k}\",\n      \"name\": \"My key\"\n  }}\n"
    assert "KEY" not in kinds_at(doc, k)
    # Without the id evidence the flag value is a credential.
    assert kinds_at(f"tool deploy --api-key {k}\n", k) == {"KEY"}


def test_flag_repeating_the_subcommand_noun_names_the_resource(rng):
    k = rs(rng, ALNUM, 40)
    assert "KEY" not in kinds_at(f"aws apigateway delete-api-key --api-key {k}\n", k)
    assert kinds_at(f"mytool upload --api-key {k}\n", k) == {"KEY"}


def test_table_of_same_shaped_values(rng):
    rows = [f'    "AWS::{w}::{t}": "{rs(rng, HEX, 16)}",' for w in ("EC2", "S3", "IAM", "SNS", "SQS")
            for t in ("Instance", "Bucket", "Role", "Topic")]
    secret_rows = [f'    "AWS::KMS::Key": "{rs(rng, HEX, 16)}",', f'    "AWS::SecretsManager::Secret": "{rs(rng, HEX, 16)}",']
    text = "SCHEMA_HASHES = {\n" + "\n".join(rows[:10] + secret_rows + rows[10:]) + "\n}\n"
    assert not [v for v, t, _ in spans_of(text) if t == "KEY"]
    # Two secrets of the same shape on their own are both reported.
    a, b = rs(rng, HEX, 32), rs(rng, HEX, 32)
    env = f"API_KEY={a}\nAPP_SECRET={b}\nDEBUG=false\n"
    assert kinds_at(env, a) == {"KEY"} and kinds_at(env, b) == {"KEY"}


@pytest.mark.parametrize("text", [
    '"S3Key": "867139942017-EntitiesDetection-ab9887877365fe70299089371c043b96/"\n',
    '"S3Key": "RHEL5export-i-fh8sjjsq.ova",\n',
    '"result_key": "Ipv6CidrAssociations"\n',
    "dest_key='Ec2SubnetIds',\n",
    '"key": "signed-2065c468-73e2-4385-a6c9-0123456789abc"\n',
    '"ChangeToken": "12cs345-67cd-890b-1cd2-c3a4567d89f1"\n',
    '"VerificationToken": "QTKknzFg2J4ygwa+XvHAxUl1hyHoY0gVfZdfjIedHZ0="\n',
    '"token": "a1b2c3d4567890ab",\n',
    "b'<tag key=\"&#229;&#246;&#246;&#62;&#229;&#246;\" />'\n",
    '"Sec-WebSocket-Key": "k9kFAUWNAMmf5OEMfTlOEA==",\n',
])
def test_documentation_identifiers_are_not_keys(text):
    assert not [t for _, t, _ in spans_of(text) if t == "KEY"]


def test_secret_named_store_key_still_a_key(rng):
    k = rs(rng, ALNUM + "/+", 40)
    assert kinds_at(f'AWS_S3_SECRET_KEY = "{k}"\n', k) == {"KEY"}


# ---- short random keys and short URI passwords ----

def test_short_random_key_in_secret_field(rng):
    k = ""
    while not (any(c.isupper() for c in k) and any(c.islower() for c in k) and any(c.isdigit() for c in k)
               and len(set(k)) >= len(k) - 1):
        k = rs(rng, ALNUM, rng.randint(12, 15))
    assert kinds_at(f'artifactory_token = "{k}"\n', k) == {"KEY"}


@pytest.mark.parametrize("value", ["Ec2SubnetIds", "HelloWorld123", "Abc123Abc123", "aB3kLm9Qx2w"])
def test_short_values_that_are_not_keys(value):
    assert "KEY" not in kinds_at(f'api_token = "{value}"\n', value)


def test_uri_short_passwords(rng):
    pw = rs(rng, string.ascii_letters, 1) + rs(rng, string.digits, 1)
    assert kinds_at(f'DATABASE_URL = "postgres://app:{pw}@db.internal:5432/app"\n', pw) == {"PASSWORD"}
    for placeholder in ("x", "pass", "pw", "%s", "$PW"):
        text = f'DATABASE_URL = "postgres://app:{placeholder}@db.internal:5432/app"\n'
        assert "PASSWORD" not in kinds_at(text, placeholder)


# ---- names: a trigger that contains another trigger word ----

@pytest.mark.parametrize("trailer", ["Co-authored-by", "Signed-off-by", "Reviewed-by"])
def test_git_trailer_names_before_noreply_addresses(trailer):
    text = f"    Fix race in cache eviction\n\n    {trailer}: Sofia Eriksen <notifications@github.com>\n"
    assert kinds_at(text, "Sofia Eriksen") == {"NAME"}


# ---- IP look-alikes: networks, netmasks, malformed test strings, spec anchors ----

@pytest.mark.parametrize("text, value", [
    ("ipaddress.ip_network('172.32.0.0').is_private\n", "172.32.0.0"),
    ("route 11.0.0.0 via gw\n", "11.0.0.0"),
    ("IPv6Address('2001:658:22a:cafe::')\n", "2001:658:22a:cafe::"),
    ("'2001:658:22a:cafe:200::1/::ffff:ffff:ffff:ffff'\n", "2001:658:22a:cafe:200::1"),
    ("net 52.95.110.7/255.255.255.0\n", "52.95.110.7"),
    ('assertBadAddressPart("3ffe::1.net", "Expected 4 octets")\n', "3ffe::1"),
    ('assertBadPart("3ffe::+0", "+0")\n', "3ffe::"),
    (".. _`3.2.2.10`: http://openid.net/specs/openid-connect-core-1_0.html#ImplicitIDToken\n", "3.2.2.10"),
])
def test_ip_lookalikes(text, value):
    assert "IP_ADDRESS" not in kinds_at(text, value)


@pytest.mark.parametrize("text, value", [
    ("host = 52.14.3.99\n", "52.14.3.99"),
    ("curl http://3.2.2.10/status\n", "3.2.2.10"),
    ('p = parse_url("ws://[2a03:4000:123:83::3]/r")\n', "2a03:4000:123:83::3"),
    ("Received: from [204.245.199.98] (helo=mail.lacita.com)\n", "204.245.199.98"),
])
def test_ip_addresses_still_reported(text, value):
    assert kinds_at(text, value) == {"IP_ADDRESS"}


@pytest.mark.parametrize("text, value", [
    ('POSTAL_ADDRESS = ObjectIdentifier("2.5.4.16")\n', "2.5.4.16"),
    ("# cf. https://www.w3.org/TR/MathML3/chapter3.html#id.3.1.3.2\n", "3.1.3.2"),
])
def test_oids_and_url_fragments(text, value):
    assert "IP_ADDRESS" not in kinds_at(text, value)
