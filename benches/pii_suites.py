"""Generalisation suites of the PII benchmark: an external suite built at bench time from
detect-secrets' own plugin definitions, leave-one-family-out on the synthetic generator, held-out
template families never used in development, and the committed real-code audit.

Nothing third-party is copied: detect-secrets' regexes are read from the installed package and
random strings are drawn from them here; the negatives are shapes that detect-secrets' heuristic
filters themselves declare false positives (each one is checked with the filter function).
"""

from __future__ import annotations

import csv
import importlib
import inspect
import pkgutil
import random
import re
import re._parser as sre_parse  # the stdlib regex parser (3.11+)
import string
import uuid
from collections import defaultdict
from pathlib import Path
from re._constants import (
    ANY,
    ASSERT,
    ASSERT_NOT,
    AT,
    BRANCH,
    CATEGORY,
    CATEGORY_DIGIT,
    CATEGORY_SPACE,
    CATEGORY_WORD,
    GROUPREF,
    IN,
    LITERAL,
    MAX_REPEAT,
    MIN_REPEAT,
    NEGATE,
    NOT_LITERAL,
    RANGE,
    SUBPATTERN,
)

AUDIT = Path(__file__).resolve().parent / "data" / "pii-real-audit.csv"

# ---------------------------------------------------------------- random strings from a regex

_CATS = {CATEGORY_DIGIT: string.digits, CATEGORY_WORD: string.ascii_letters + string.digits + "_",
         CATEGORY_SPACE: " "}
_PRINTABLE = string.ascii_letters + string.digits + "-_./+=:"


def _charset(items: list) -> str:
    chars: list[str] = []
    neg = False
    for op, av in items:
        if op is NEGATE:
            neg = True
        elif op is LITERAL:
            chars.append(chr(av))
        elif op is RANGE:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        elif op is CATEGORY:
            chars.extend(_CATS.get(av, ""))
    if neg:
        return "".join(c for c in _PRINTABLE if c not in chars) or "x"
    return "".join(chars) or "x"


def _gen(parsed, rng: random.Random, cap: int = 8) -> str:
    out: list[str] = []
    for op, av in parsed:
        if op is LITERAL:
            out.append(chr(av))
        elif op is NOT_LITERAL:
            out.append(rng.choice([c for c in _PRINTABLE if c != chr(av)]))
        elif op is ANY:
            out.append(rng.choice(string.ascii_letters + string.digits))
        elif op is IN:
            out.append(rng.choice(_charset(av)))
        elif op in (MAX_REPEAT, MIN_REPEAT):
            lo, hi, sub = av
            hi = lo + cap if hi > 10_000 else hi
            out.extend(_gen(sub, rng, cap) for _ in range(rng.randint(lo, max(lo, hi))))
        elif op is SUBPATTERN:
            out.append(_gen(av[-1], rng, cap))
        elif op is BRANCH:
            out.append(_gen(rng.choice(av[1]), rng, cap))
        elif op in (AT, ASSERT, ASSERT_NOT, GROUPREF):
            continue
    return "".join(out)


def strings_from(pattern: str, rng: random.Random, n: int, flags: int = 0) -> list[str]:
    """``n`` random strings that fully match ``pattern`` (verified; misses are dropped)."""
    parsed = sre_parse.parse(pattern, flags)
    comp = re.compile(pattern, flags)
    out = []
    for _ in range(n * 4):
        s = _gen(parsed, rng)
        if comp.search(s):
            out.append(s)
        if len(out) == n:
            break
    return out


# ---------------------------------------------------------------- external suite (detect-secrets)

# Plugins whose formats are in our KEY/PASSWORD scope, and why the others are not.
OUT_OF_SCOPE = {
    "CloudantDetector": "keyword context for one vendor's key, no format",
    "IbmCloudIamDetector": "keyword context for one vendor's key, no format",
    "IbmCosHmacDetector": "keyword context for one vendor's key, no format",
    "SoftlayerDetector": "keyword context for one vendor's key, no format",
    "PrivateKeyDetector": "header line only; a PEM header without key material is not a key",
    "IPPublicDetector": "IP addresses (scored under IP_ADDRESS policy, not as a secret)",
    "JwtTokenDetector": "any eyJ… triple; random payloads are not tokens (ours decodes the header)",
    "DiscordBotTokenDetector": "format not in our table",
}
PATTERN_OUT_OF_SCOPE = {
    r"AC[a-z0-9]{32}": "Twilio account SIDs are identifiers, not secrets",
    r"AP[\dABCDEF][a-zA-Z0-9]{8,}": "matches ordinary identifiers (AP + 8 letters)",
}


def ds_patterns() -> list[tuple[str, str, bool, str]]:
    """(plugin, pattern, in scope, why not) for every regex of detect-secrets' regex plugins."""
    import detect_secrets.plugins as plugins
    from detect_secrets.plugins.base import RegexBasedDetector

    out = []
    for m in pkgutil.iter_modules(plugins.__path__):
        mod = importlib.import_module(f"detect_secrets.plugins.{m.name}")
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if not issubclass(cls, RegexBasedDetector) or cls is RegexBasedDetector or cls.__module__ != mod.__name__:
                continue
            for rx in cls().denylist:
                why = OUT_OF_SCOPE.get(name) or PATTERN_OUT_OF_SCOPE.get(rx.pattern, "")
                out.append((name, rx.pattern, not why, why))
    return out


def external_positives(seed: int = 0, per_pattern: int = 40) -> list[tuple[str, str, str, str, int, int]]:
    """(plugin, scope, form, doc, start, end) for random matches of every pattern. Each string goes
    into two documents: bare (`value: <s>` under a neutral key) and in context, assigned to a name
    that says what it is (`<provider>_token = "<s>"`, a database URL for user:password@), the way
    gitleaks' rule examples and real files present secrets."""
    rng = random.Random(seed)
    docs = []
    for plugin, pattern, in_scope, _ in ds_patterns():
        flags = re.VERBOSE if "\n" in pattern else 0
        provider = plugin.removesuffix("Detector").lower()
        for s in strings_from(pattern, rng, per_pattern, flags):
            s = s.strip().strip('"=:')
            if not s:
                continue
            scope = "in" if in_scope else "out"
            bare = f"config:\n  value: {s}\n"
            docs.append((plugin, scope, "bare", bare, bare.index(s), bare.index(s) + len(s)))
            if s.startswith("//") and s.endswith("@"):
                # userinfo of a URI (`://user:password@`; the strip above took the scheme's colon)
                ctx = f'DATABASE_URL = "postgres:{s}db.internal:5432/app"\n'
            else:
                ctx = f'{provider}_token = "{s}"\n'
            docs.append((plugin, scope, "context", ctx, ctx.index(s), ctx.index(s) + len(s)))
    return docs


def external_negatives(seed: int = 0) -> list[tuple[str, str, int, int]]:
    """(filter, doc, start, end): values detect-secrets' own heuristic filters call false positives,
    in secret-assignment position."""
    from detect_secrets.filters import heuristic as h

    rng = random.Random(seed)
    seq = string.ascii_uppercase + string.digits
    cands: list[tuple[str, str]] = []
    for _ in range(60):
        i = rng.randint(0, 10)
        cands.append(("is_sequential_string", seq[i : i + rng.randint(16, 26)]))
        cands.append(("is_sequential_string", "0123456789abcdef"[: rng.randint(12, 16)] * 2))
        cands.append(("is_potential_uuid", str(uuid.UUID(int=rng.getrandbits(128)))))
        w = rng.choice(["secret", "api_key", "password", "token", "key"])
        cands.append(("is_templated_secret", rng.choice(["{%s}", "<%s>", "${%s}", "{{%s}}"]) % w))
        cands.append(("is_prefixed_with_dollar_sign", "$" + rng.choice(["API_KEY", "SECRET_TOKEN", "DB_PASS"]) + str(i)))
        cands.append(("is_not_alphanumeric_string", rng.choice("*#-.") * rng.randint(8, 20)))
    checks = {"is_sequential_string": h.is_sequential_string, "is_potential_uuid": h.is_potential_uuid,
              "is_templated_secret": h.is_templated_secret, "is_prefixed_with_dollar_sign": h.is_prefixed_with_dollar_sign,
              "is_not_alphanumeric_string": h.is_not_alphanumeric_string}
    out = []
    for k, (name, v) in enumerate(cands):
        if not checks[name](v):
            continue  # detect-secrets itself would not call it a false positive
        key = ["API_KEY", "client_secret", "password", "auth_token", "SECRET_KEY"][k % 5]
        doc = rng.choice([f'{key} = "{v}"\n', f"{key}: {v}\n", f'{{"{key}": "{v}"}}\n', f"export {key}={v}\n"])
        s = doc.index(v)
        out.append((name, doc, s, s + len(v)))
    # Indirect references and id strings: code, not values.
    for k in range(60):
        key = ["api_key", "secret", "password", "token"][k % 4]
        doc = rng.choice([f"{key} = get_{key}()\n", f"{key} = config.{key}\n", f"{key}_id = '{rng.getrandbits(48):x}'\n"])
        m = re.search(r"= (.+)$", doc.strip())
        assert m
        s = doc.index(m.group(1).strip("'"))
        out.append(("is_indirect_reference/is_likely_id_string", doc, s, len(doc.rstrip())))
    return out


# ---------------------------------------------------------------- leave-one-family-out

FAMILIES: dict[str, list[str]] = {
    "provider formats (original)": [
        "private-key-block", "aws-access-key-id", "aws-secret-access-key", "github-token", "github-fine-grained-pat",
        "gitlab-token", "slack-webhook", "slack-token", "stripe-key", "stripe-webhook-secret", "google-api-key",
        "openai-key", "anthropic-key", "huggingface-token", "npm-token", "pypi-token", "sendgrid-key", "twilio-key",
        "azure-storage-key", "mailchimp-key", "shopify-token", "digitalocean-token", "telegram-bot-token", "jwt"],
    "provider prefixes (new)": ["provider-token"],
    "auth headers and flags": ["bearer-token", "basic-auth-header", "header-credential"],
    "SQL account statements (new)": ["sql-password"],
    "URIs and command lines": ["uri-credentials", "uri-username", "password-cli-flag", "cli-username",
                               "password-call-argument"],
    "assignments": ["secret-assignment", "password-assignment", "username-assignment", "secret-call-pair",
                    "password-call-pair"],
    "e-mail": ["email"],
    "IP addresses": ["ipv4", "ipv6"],
    "names": ["name-with-email", "name-after-trigger", "name-with-handle"],
    "usernames": ["ssh-login", "username-handle", "username-profile-url", "username-todo", "username-merge"],
}


# ---------------------------------------------------------------- held-out families
# Written for the benchmark and run only by it: no rule was developed against these templates.

def _pw(r: random.Random) -> str:
    syl = ["ka", "lo", "mi", "ren", "tas", "vo", "zu", "bel", "dor", "mar"]
    return "".join(r.choice(syl) for _ in range(3)).capitalize() + str(r.randint(10, 9999)) + r.choice("!#%&*@")


def _key(r: random.Random, n: int = 32) -> str:
    while True:
        k = "".join(r.choice(string.ascii_letters + string.digits) for _ in range(n))
        if any(c.isdigit() for c in k) and any(c.isupper() for c in k) and any(c.islower() for c in k):
            return k


def heldout_orchestration(r: random.Random) -> list[tuple[str, str, str]]:
    """Kubernetes / Compose / CI environment lists."""
    pw, k = _pw(r), _key(r)
    return [
        (f"env:\n  - name: DB_PASSWORD\n    value: \"{pw}\"\n  - name: LOG_LEVEL\n    value: info\n", pw, "PASSWORD"),
        (f"services:\n  db:\n    environment:\n      - POSTGRES_PASSWORD={pw}\n      - POSTGRES_DB=app\n", pw, "PASSWORD"),
        (f"variables:\n  DEPLOY_TOKEN: \"{k}\"\n  STAGE: prod\n", k, "KEY"),
        (f"docker run -e API_SECRET={k} -p 8080:8080 app:latest\n", k, "KEY"),
    ]


def heldout_markup_attributes(r: random.Random) -> list[tuple[str, str, str]]:
    """XML / .NET / Spring configuration attributes."""
    pw, k = _pw(r), _key(r)
    return [
        (f'<appSettings>\n  <add key="ApiSecret" value="{k}" />\n</appSettings>\n', k, "KEY"),
        (f'<bean id="ds" class="x.DataSource">\n  <property name="password" value="{pw}"/>\n</bean>\n', pw, "PASSWORD"),
        (f'<connection host="db" user="app" password="{pw}" />\n', pw, "PASSWORD"),
        (f'<add name="Main" connectionString="Server=db;Database=app;User Id=app;Password={pw};" />\n', pw, "PASSWORD"),
    ]


def heldout_hash_literals(r: random.Random) -> list[tuple[str, str, str]]:
    """PHP / Ruby / Perl / Lua hash literals."""
    pw, k = _pw(r), _key(r)
    return [
        (f"$config = [\n    'db_password' => '{pw}',\n    'debug' => false,\n];\n", pw, "PASSWORD"),
        (f"Stripe.configure do |c|\n  c.api_key = \"{k}\"\nend\n", k, "KEY"),
        (f"my %cfg = (secret_token => '{k}', retries => 3);\n", k, "KEY"),
        (f"local conf = {{ auth_token = \"{k}\", port = 80 }}\n", k, "KEY"),
    ]


# Former held-out families: reported as misses by the first run of this report, so name/value pairs
# (XML attributes, Kubernetes env lists) were added to the rules afterwards. They are development
# families now and are reported separately from the new held-out families below.
FORMER_HELDOUT = {"orchestration env lists": heldout_orchestration, "markup attributes": heldout_markup_attributes,
                  "hash literals": heldout_hash_literals}


# New held-out families, written together with the rules of this round and run only by the report.

def heldout_env_calls(r: random.Random) -> list[tuple[str, str, str]]:
    """Environment and property setters in Go, Java, Ruby, PHP, JavaScript."""
    pw, k = _pw(r), _key(r)
    return [
        (f'os.Setenv("API_TOKEN", "{k}")\n', k, "KEY"),
        (f'props.setProperty("db.password", "{pw}");\n', pw, "PASSWORD"),
        (f"ENV['SECRET_TOKEN'] = '{k}'\n", k, "KEY"),
        (f'putenv("DB_PASS={pw}");\n', pw, "PASSWORD"),
        (f'process.env.API_KEY = "{k}";\n', k, "KEY"),
    ]


def heldout_infrastructure(r: random.Random) -> list[tuple[str, str, str]]:
    """Terraform, Ansible, Helm values, CloudFormation."""
    pw, k = _pw(r), _key(r)
    return [
        (f'resource "aws_db_instance" "main" {{\n  username = "app"\n  password = "{pw}"\n}}\n', pw, "PASSWORD"),
        (f"all:\n  vars:\n    ansible_become_password: {pw}\n", pw, "PASSWORD"),
        (f"auth:\n  existingSecret: \"\"\n  secretKey: \"{k}\"\n", k, "KEY"),
        (f"  MasterUserPassword: {pw}\n  MasterUsername: admin\n", pw, "PASSWORD"),
        (f'provider "datadog" {{\n  api_key = "{k}"\n}}\n', k, "KEY"),
    ]


def heldout_escaped(r: random.Random) -> list[tuple[str, str, str]]:
    """Values escaped inside another format: notebook JSON source lines, JSON inside YAML/strings."""
    pw, k = _pw(r), _key(r)
    return [
        (f'{{"cell_type": "code", "source": ["api_key = \\"{k}\\"\\n", "client = Client(api_key)"]}}\n', k, "KEY"),
        (f"config: '{{\"password\": \"{pw}\", \"host\": \"db\"}}'\n", pw, "PASSWORD"),
        (f'payload = "{{\\"auth_token\\": \\"{k}\\"}}"\n', k, "KEY"),
    ]


HELDOUT = {"infrastructure as code": heldout_infrastructure, "escaped in another format": heldout_escaped}

# Held out in the second round and then reported as misses (KEY 0.333, PASSWORD 0.5): literal name/value
# argument pairs (`secret-call-pair`, `password-call-pair`) and environment accessors (`process.env.X`)
# were then written from the syntax, without reading these templates, and the family was scored once.
FORMER_HELDOUT["environment and property setters"] = heldout_env_calls


# ---------------------------------------------------------------- real-code audit

def audit_rows() -> list[dict[str, str]]:
    if not AUDIT.exists():
        return []
    with open(AUDIT, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def audit_precision(rows: list[dict[str, str]], run: str | None = None) -> dict[str, tuple[int, int]]:
    """type -> (true positives, findings), over one audit run (the `run` column) or all of them."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if run is not None and r.get("run", "1") != run:
            continue
        out[r["type"]][1] += 1
        out[r["type"]][0] += r["verdict"] == "TP"
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}
