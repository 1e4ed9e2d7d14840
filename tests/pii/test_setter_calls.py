"""Credentials passed as a literal name/value pair of a call, a subscript or a brace pair.

The syntax is the same across languages — a secret-named string literal, then the value as the next
string-literal argument — so one rule covers environment setters, property setters, map builders and
config writers; these cases check that it does, and that the value validators still decide what a
secret is (placeholders, identifiers, paths and non-literal arguments are never values). Secrets are
synthesised at test time.
"""

from __future__ import annotations

import ast
import random

import pytest

from sctool.pii import detect_pii

from .synth import ALNUM, password, rs

SEEDS = range(4)


def spans_of(text: str) -> list[tuple[str, str, str]]:
    (spans,) = detect_pii([text])
    return [(text[s.start : s.end], s.type, s.rule) for s in spans]


KEY_FORMS = [
    ("go", 'os.Setenv("API_KEY", "{v}")'),
    ("java", 'System.setProperty("aws.secretKey", "{v}");'),
    ("java", 'Map<String, String> m = Map.of("client_secret", "{v}");'),
    ("ruby", 'ENV.store("GITHUB_TOKEN", "{v}")'),
    ("ruby", "ENV['SECRET_KEY_BASE'] = '{v}'"),
    ("php", "putenv('API_TOKEN={v}');"),
    ("php", "$_ENV['STRIPE_SECRET'] = '{v}';"),
    ("js", 'process.env.API_TOKEN = "{v}";'),
    ("ts", "headers.set('X-Api-Key', '{v}');"),
    ("python", "config.set('default', 'aws_secret_access_key', '{v}')"),
    ("python", 'os.environ.setdefault("SECRET_KEY", "{v}")'),
    ("csharp", 'Environment.SetEnvironmentVariable("API_KEY", "{v}", EnvironmentVariableTarget.User);'),
    ("csharp", 'var d = new Dictionary<string, string> {{ {{"access_token", "{v}"}} }};'),
    ("rust", 'std::env::set_var("SERVICE_API_KEY", "{v}");'),
    ("c", 'setenv("AUTH_TOKEN", "{v}", 1);'),
    ("shell", 'setenv SLACK_SECRET "{v}"'),
    ("shell", "set -gx SERVICE_TOKEN '{v}'"),
    ("kotlin", 'val env = mapOf("API_TOKEN" to "{v}")'),
    ("scala", 'val conf = Map("client_secret" -> "{v}")'),
]

PASSWORD_FORMS = [
    ("go", 'os.Setenv("DB_PASSWORD", "{v}")'),
    ("java", 'props.setProperty("spring.datasource.password", "{v}");'),
    ("ruby", 'ENV["SMTP_PASSWORD"] = "{v}"'),
    ("php", "define('DB_PASSWORD', '{v}');"),
    ("php", 'putenv("MYSQL_PASSWORD={v}");'),
    ("js", 'map.set("password", "{v}");'),
    ("python", "parser.set('database', 'password', '{v}')"),
    ("csharp", 'builder.Add("Password", "{v}");'),
    ("rust", 'env::set_var("PGPASSWORD", "{v}");'),
    ("shell", 'setenv PGPASSWORD "{v}"'),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("lang", "form"), KEY_FORMS)
def test_key_in_setter_position(lang: str, form: str, seed: int):
    key = rs(random.Random(f"{form}/{seed}"), ALNUM, 32)
    text = form.format(v=key) + "\n"
    found = spans_of(text)
    assert (key, "KEY") in [(v, t) for v, t, _ in found], f"{lang}: {form!r} -> {[(t, r) for _, t, r in found]}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("lang", "form"), PASSWORD_FORMS)
def test_password_in_setter_position(lang: str, form: str, seed: int):
    pw = password(random.Random(f"{form}/{seed}"))
    text = form.format(v=pw) + "\n"
    found = spans_of(text)
    assert (pw, "PASSWORD") in [(v, t) for v, t, _ in found], f"{lang}: {form!r} -> {[(t, r) for _, t, r in found]}"


def test_pairs_report_under_their_own_rules():
    key = rs(random.Random(1), ALNUM, 32)
    pw = password(random.Random(2))
    found = spans_of(f'os.Setenv("API_KEY", "{key}")\nSystem.setProperty("db.password", "{pw}");\n')
    assert (key, "KEY", "secret-call-pair") in found
    assert (pw, "PASSWORD", "password-call-pair") in found


def test_span_is_the_literal_content_and_redaction_keeps_python_parsing():
    key = rs(random.Random(3), ALNUM, 40)
    text = f"import os\nos.environ.setdefault('SECRET_KEY', '{key}')\nconfig.set('s', 'api_key', \"{key[:20]}x9Q\")\n"
    (spans,) = detect_pii([text])
    assert spans
    for s in spans:
        assert text[s.start - 1] in "'\"" and text[s.end] == text[s.start - 1]
    redacted = text
    for s in sorted(spans, key=lambda s: -s.start):
        redacted = redacted[: s.start] + "R" * (s.end - s.start) + redacted[s.end :]
    ast.parse(redacted)


@pytest.mark.parametrize("text", [
    'value := os.Getenv("API_KEY")\n',
    'String pw = System.getProperty("db.password");\n',
    'System.setProperty("password", passwordVar);\n',
    'props.put("secret_key", dbSecretKey);\n',
    'props.put("key", "name");\n',
    'props.put("api_key", "service_api_key_name");\n',
    'props.put("private_key", "/etc/ssl/private/server.key");\n',
    'os.Setenv("API_KEY", "changeme")\n',
    'os.Setenv("API_KEY", "<your-key>")\n',
    'os.Setenv("API_KEY", "${API_KEY}")\n',
    'os.Setenv("DB_PASSWORD", "changeme")\n',
    'password = config.get("password", "default")\n',
    'token = config.get("secret", "default_value")\n',
    'setenv("AUTH_TOKEN", "xxxxxxxxxxxxxxxxxxxxxxxx", 1);\n',
    'logger.info("token", "expired for user")\n',
    'choices = (("password", "Password1"),)\n',
    'check(x, "password", "Pa55word!")\n',
    'h.update("api_key", "kQ7vX2pL9sR4tW8zB3nM5cF1" + suffix)\n',
    "g('attention.self.key', 'attention.k_proj')\n",
    "t('mask_token', '<mask_1>')\n",
    'val env = mapOf("API_TOKEN" to apiToken)\n',
    '$x = $this->password . "Pa55word!";\n',
])
def test_not_values(text: str):
    found = [(v, t) for v, t, _ in spans_of(text) if t in ("KEY", "PASSWORD")]
    assert not found, f"{text!r}: {[t for _, t in found]}"


def test_public_key_material_is_not_a_secret():
    # A DER SubjectPublicKeyInfo (here the P-256 header) in a key-named field is a published key;
    # the same field holding a PKCS#8 private key is still a secret.
    tail = rs(random.Random(4), ALNUM, 60)
    pub = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + tail
    priv = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg" + tail
    assert not [t for _, t, _ in spans_of(f'keys = [{{keyid: "SHA256:x", key: "{pub}"}}]\n')]
    assert (priv, "KEY") in [(v, t) for v, t, _ in spans_of(f'key = "{priv}"\n')]


def test_version_numbers_are_not_passwords():
    assert not spans_of("            'Test2::Event::Pass'    => '1.302103',\n")
