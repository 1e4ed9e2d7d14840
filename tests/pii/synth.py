"""Test-time synthesis of fake secrets and PII for every rule (nothing real is ever committed).

Each generator returns true positives — (text, value) pairs where the rule must report exactly
``value`` — and known false positives — (text, lookalike) pairs where no span of the rule's type may
touch ``lookalike``. Keys are random characters of the right shape, and checksums (GitHub's CRC32)
are computed here, so no string in this file is a usable credential.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"

Case = tuple[str, str]
Gen = Callable[[random.Random], tuple[list[Case], list[Case]]]


def rs(rng: random.Random, alphabet: str, n: int) -> str:
    """Random string that mixes character classes (retry until it does, like real tokens)."""
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        classes = sum(any(c in grp for c in s) for grp in (string.ascii_lowercase, string.ascii_uppercase, string.digits))
        if n < 8 or classes >= min(2, len({grp for grp in (string.ascii_lowercase, string.ascii_uppercase, string.digits) if set(grp) & set(alphabet)})):
            return s


def base62(v: int, width: int) -> str:
    out = ""
    while v:
        out = B62[v % 62] + out
        v //= 62
    return out.rjust(width, "0")


def github_token(rng: random.Random, prefix: str = "ghp") -> str:
    body = rs(rng, ALNUM, 30)
    return f"{prefix}_{body}{base62(zlib.crc32(body.encode()), 6)}"


def word(rng: random.Random, n: int = 0) -> str:
    syll = ["ka", "lo", "mi", "ren", "tas", "vo", "zu", "shi", "bel", "dor", "an", "ek", "ul", "mar", "ti", "no"]
    return "".join(rng.choice(syll) for _ in range(n or rng.randint(2, 3)))


def person(rng: random.Random) -> str:
    return f"{word(rng).capitalize()} {word(rng).capitalize()}"


def handle(rng: random.Random) -> str:
    return f"{word(rng)}_{word(rng, 1)}{rng.randint(2, 99)}"


def email_of(rng: random.Random) -> str:
    return f"{word(rng)}.{word(rng)}{rng.randint(1, 99)}@{word(rng)}-{word(rng)}.io"


def password(rng: random.Random) -> str:
    return f"{word(rng).capitalize()}{rng.randint(1000, 2029)}{rng.choice('!$&*#%_')}{rng.choice('xyzq')}"


def global_ipv4(rng: random.Random) -> str:
    while True:
        a = rng.choice([23, 34, 45, 52, 61, 77, 88, 91, 104, 130, 151, 185, 193, 211])
        ip = f"{a}.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if ip not in ("1.1.1.1",):
            return ip


def jwt(rng: random.Random, payload: dict | None = None) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(payload or {'uid': rng.randint(1, 10**6), 'scope': word(rng)})}.{rs(rng, ALNUM + '-_', 43)}"


def pem_body(rng: random.Random, lines: int = 8) -> str:
    return "\n".join(rs(rng, B64, 64) for _ in range(lines))


# --------------------------------------------------------------------------------------------------
# One generator per rule id.


def g_private_key_block(r):
    kind = r.choice(["RSA ", "EC ", "OPENSSH ", ""])
    block = f"-----BEGIN {kind}PRIVATE KEY-----\n{pem_body(r)}\n-----END {kind}PRIVATE KEY-----"
    pub = f"-----BEGIN PUBLIC KEY-----\n{pem_body(r, 3)}\n-----END PUBLIC KEY-----"
    doc = "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----"
    return [(f"key = '''\n{block}\n'''\n", block)], [(pub, pub), (doc, doc)]


def g_aws_access_key_id(r):
    k = "AKIA" + rs(r, string.ascii_uppercase + "234567", 16)
    return [(f"aws_access_key_id = '{k}'\n", k)], [("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n", "AKIAIOSFODNN7EXAMPLE"),
                                                     ("id: AKIAXXXXXXXXXXXXXXXX\n", "AKIAXXXXXXXXXXXXXXXX")]


def g_aws_secret_access_key(r):
    k = rs(r, B64, 40)
    return [(f"export AWS_SECRET_ACCESS_KEY={k}\n", k)], [
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]


def g_github_token(r):
    t = github_token(r, r.choice(["ghp", "gho", "ghs"]))
    bad = t[:-6] + ("000000" if not t.endswith("000000") else "111111")
    return [(f"GITHUB_TOKEN: {t}\n", t), (f"curl -H 'Authorization: token {t}'", t)], [(f"see {bad} in docs", bad)]


def g_github_fine_grained_pat(r):
    t = f"github_pat_{rs(r, ALNUM, 22)}_{rs(r, ALNUM, 59)}"
    return [(f"gh auth login --with-token {t}\n", t)], [("github_pat_XXXXXXXXXXXXXXXXXXXXXX_" + "X" * 59, "github_pat_")]


def g_gitlab_token(r):
    t = "glpat-" + rs(r, ALNUM, 20)
    agent = "glagent-" + rs(r, ALNUM + "-_", 60)
    oauth = "gloas-" + rs(r, ALNUM, 64)
    return [(f"GITLAB={t}\n", t), (f"agent_token: {agent}\n", agent), (f"app_secret = '{oauth}'\n", oauth)], [
        ("glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-xxxxxxxxxxxxxxxxxxxx"), ("helm install glagent-short", "glagent")]


def g_slack_webhook(r):
    u = f"https://hooks.slack.com/services/T{rs(r, string.ascii_uppercase + string.digits, 8)}/B{rs(r, string.ascii_uppercase + string.digits, 8)}/{rs(r, ALNUM, 24)}"
    # Short segments are still the URL's own format (older or hand-shortened workspace ids).
    short = f"https://hooks.slack.com/services/T{rs(r, string.ascii_uppercase, 3)}/B{rs(r, ALNUM, 4)}/{rs(r, ALNUM, 6)}"
    return [(f"url: {u}\n", u), (f'SLACK_URL = "{short}"\n', short)], [
        ("https://hooks.slack.com/services/TXXXXXXXX/BXXXXXXXX/XXXXXXXXXXXXXXXXXXXXXXXX", "hooks"),
        ("see https://hooks.slack.com/services/T.../B.../... for the format", "hooks")]


def g_slack_token(r):
    t = f"xoxb-{r.randint(10**12, 10**13 - 1)}-{r.randint(10**12, 10**13 - 1)}-{rs(r, ALNUM, 24)}"
    # The older workspace-id-dash shape: digit groups, then a lower-case/digit suffix.
    short = f"xoxp-{r.randint(1000, 10**7)}-{rs(r, string.ascii_lowercase + string.digits, 6)}"
    return [(f"SLACK_BOT_TOKEN={t}\n", t), (f"token = '{short}'\n", short)], [
        ("SLACK_BOT_TOKEN=xoxb-your-token\n", "xoxb-your-token"), ("slack = 'xoxb-abc-def'\n", "xoxb-abc-def")]


def g_stripe_key(r):
    t = "sk_live_" + rs(r, ALNUM, 24)
    return [(f"stripe.api_key = \"{t}\"\n", t)], [("stripe.api_key = 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'", "sk_live_")]


def g_stripe_webhook_secret(r):
    t = "whsec_" + rs(r, ALNUM, 32)
    return [(f"endpoint_secret = '{t}'\n", t)], [("whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "whsec_")]


def g_google_api_key(r):
    t = "AIza" + rs(r, ALNUM + "-_", 35)
    return [(f"maps: {{ apiKey: '{t}' }}\n", t)], [("AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "AIza")]


def g_openai_key(r):
    t = f"sk-proj-{rs(r, ALNUM, 48)}"
    t2 = f"sk-{rs(r, ALNUM, 20)}T3BlbkFJ{rs(r, ALNUM, 20)}"
    return [(f"openai.api_key = \"{t}\"\n", t), (f"client = OpenAI(api_key='{t2}')", t2)], [
        ("the risk-assessment-task-runner-for-the-team", "task-runner")]


def g_anthropic_key(r):
    t = f"sk-ant-api03-{rs(r, ALNUM + '-_', 93)}"
    return [(f"ANTHROPIC_API_KEY={t}\n", t)], [("sk-ant-api03-xxxxxxxx", "sk-ant")]


def g_huggingface_token(r):
    t = "hf_" + rs(r, string.ascii_letters, 34)
    return [(f"login(token='{t}')\n", t)], [("hf_" + "x" * 34, "hf_")]


def g_npm_token(r):
    t = "npm_" + rs(r, ALNUM, 36)
    return [(f"//registry.npmjs.org/:_authToken={t}\n", t)], [("npm_" + "0" * 36, "npm_")]


def g_pypi_token(r):
    t = "pypi-AgEIcHlwaS5vcmc" + rs(r, ALNUM + "-_", 60)
    return [(f"password = {t}\n", t)], [("pypi-AgEIcHlwaS5vcmc", "pypi-")]


def g_sendgrid_key(r):
    t = f"SG.{rs(r, ALNUM, 22)}.{rs(r, ALNUM + '-_', 43)}"
    return [(f"SENDGRID_API_KEY='{t}'\n", t)], [("SG.xxxxxxxxxxxxxxxxxxxxxx." + "x" * 43, "SG.")]


def g_twilio_key(r):
    t = "SK" + rs(r, HEX, 32)
    return [(f"client = Client('{t}', auth)\n", t)], [("SK" + "0" * 32, "SK")]


def g_azure_storage_key(r):
    k = rs(r, B64, 86) + "=="
    return [(f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={k};EndpointSuffix=core.windows.net", k)], [
        ("AccountKey=" + "A" * 86 + "==", "AccountKey")]


def g_mailchimp_key(r):
    t = f"{rs(r, HEX, 32)}-us{r.randint(1, 20)}"
    return [(f"MC = '{t}'\n", t)], [("0" * 32 + "-us1", "-us1")]


def g_shopify_token(r):
    t = "shpat_" + rs(r, HEX, 32)
    return [(f"X-Shopify-Access-Token: {t}\n", t)], [("shpat_" + "0" * 32, "shpat_")]


def g_digitalocean_token(r):
    t = "dop_v1_" + rs(r, HEX, 64)
    return [(f"DO_TOKEN={t}\n", t)], [("dop_v1_" + "a" * 64, "dop_v1_")]


def g_telegram_bot_token(r):
    t = f"{r.randint(10**8, 10**9)}:AA{rs(r, ALNUM + '_-', 33)}"
    # Secrets that do not start with AA, and tokens inside the Bot API URL (/bot<token>/).
    t2 = f"{r.randint(10**7, 10**8)}:{rs(r, ALNUM, 35)}"
    t3 = f"{r.randint(10**9, 10**10 - 1)}:{rs(r, ALNUM + '_-', 35)}"
    return [(f"bot = Bot('{t}')\n", t), (f"TELEGRAM = '{t2}'\n", t2), (f"GET https://api.telegram.org/bot{t3}/getMe\n", t3)], [
        ("12:AAbc", "AAbc"), ("at 20240101:" + "a" * 35 + "\n", "20240101"),
        ("ts 1700000000:" + "abcdefghijklmnopqrstuvwxyzabcdefghi" + "\n", "1700000000"),
        ("v 123456789:" + "Abcdefghijklmnopqrstuvwxyz0123456789" + "\n", "123456789"),
        ("id x12345678:" + rs(r, ALNUM, 35) + "\n", "12345678")]


def g_npmrc_auth(r):
    legacy = "-".join(rs(r, HEX, n) for n in (8, 4, 4, 4, 12))
    short = "npm_" + rs(r, ALNUM, 12)
    b64 = base64.b64encode(f"{handle(r)}:{password(r)}".encode()).decode()
    return [(f"//registry.npmjs.org/:_authToken={legacy}\n", legacy),
            (f'run: echo "//npm.pkg.github.com/:_authToken=  {short}" >> ~/.npmrc\n', short),
            (f"_auth={b64}\nalways-auth=true\n", b64)], [
        ("//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", "${NPM_TOKEN}"),
        ("self._auth = HTTPBasicAuth(user, pw)\n", "HTTPBasicAuth"),
        (r"re.compile(r'\/\/.+\/:_authToken=\s*((npm_.+)|([A-Fa-f0-9-]{36})).*')" + "\n", "npm_.+")]


def g_jwt(r):
    t = jwt(r)
    sample = jwt(r, {"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
    return [(f"Authorization: {t}\n", t)], [(f"# jwt.io sample\nvalue = '{sample}'\n", sample),
                                           ("x = 'eyJnotajwt.eyJreally.notasignatureatall'", "eyJnotajwt")]


def g_bearer_token(r):
    t = rs(r, ALNUM, 40)
    return [(f'curl -H "Authorization: Bearer {t}" https://api.acme.dev\n', t)], [
        ('curl -H "Authorization: Bearer ${DEPLOY_TOKEN}" https://api.acme.dev', "DEPLOY_TOKEN")]


def g_uri_credentials(r):
    pw = password(r)
    return [(f"DATABASE_URL=postgres://{handle(r)}:{pw}@{global_ipv4(r)}:5432/app\n", pw)], [
        ("postgres://postgres:********@127.0.0.1:5432/app_dev", "********"),
        ("redis://user:${REDIS_PASSWORD}@cache:6379", "${REDIS_PASSWORD}"),
        ("'hdfs://username:pwd@node:123/mnt/data.csv'", "pwd"), ("'github://org:repo@sha/precip/catalog.yml'", "repo")]


def g_uri_username(r):
    u = handle(r)
    return [(f"mongodb://{u}:{password(r)}@db.{word(r)}.io:27017/x\n", u)], [
        ("postgres://postgres:s3cret-9x@10.0.0.2/db", "postgres")]


def g_password_cli_flag(r):
    pw = password(r)
    return [(f"mysql -u app -p'{pw}' -h 10.0.0.5 shop\n", pw), (f"sshpass -p {pw} ssh deploy@host\n", pw)], [
        ("ssh -p 2222 host\n", "2222"), ("docker run -p 8080:8080 app\n", "8080:8080")]


def g_cli_username(r):
    u = handle(r)
    return [(f"mysql -h db.internal -u {u} -p'{password(r)}' shop\n", u)], [("mysql -u root -p shop\n", "root"),
                                                                          ("tar -u file.tar\n", "file.tar")]


def g_secret_call_pair(r):
    key = rs(r, ALNUM, 32)
    return [(f'os.Setenv("API_KEY", "{key}")\n', key), (f"props.put('client_secret', '{key}');\n", key),
            (f'{{"auth_token", "{key}"}},\n', key)], [
        ('os.Getenv("API_KEY")\n', "API_KEY"), ('props.put("secret_key", "secret_key_name");\n', "secret_key_name"),
        ('f("API_KEY", "<your-api-key>")\n', "<your-api-key>"), (f'pair = ("api_key", "{key}")\n', key)]


def g_password_call_pair(r):
    pw = password(r)
    return [(f'System.setProperty("db.password", "{pw}");\n', pw), (f"define('DB_PASSWORD', '{pw}');\n", pw)], [
        ('System.setProperty("db.password", dbPassword);\n', "dbPassword"),
        ('config.get("password", "changeme")\n', "changeme"), ('putenv("PASSWORD", "${PASSWORD}")\n', "${PASSWORD}")]


def g_password_call_argument(r):
    pw = password(r)
    return [(f"with smtplib.SMTP_SSL('smtp.x.io', 465) as s:\n    s.login(SENDER, '{pw}')\n", pw),
            (f"requests.get(url, auth=HTTPBasicAuth('bob', '{pw}'))\n", pw)], [
        ("s.login(user, password)\n", "password"), ("s.login(user, '********')\n", "********"),
        ('    MovedAttribute("HTTPBasicAuthHandler", "urllib2", "urllib.request"),\n', "urllib2")]


def g_secret_assignment(r):
    hexkey = rs(r, HEX, 64)
    b64 = rs(r, ALNUM + "+/", 48)
    return [(f"API_KEY={hexkey}\n", hexkey), (f"const JWT_SECRET = '{b64}';\n", b64),
            (f'{{"client_secret": "{b64}"}}', b64), (f"#define API_TOKEN \"{hexkey}\"\n", hexkey)], [
        ("GOOGLE_MAPS_KEY=YOUR_API_KEY\n", "YOUR_API_KEY"),
        ("token_url = 'https://auth.acme.dev/oauth/token'\n", "https"),
        (f"checksum/config: {hexkey}\n", hexkey),
        ("request_id_key = 'f13bc09d-0a89-4595-9749-772945fd2c1d'\n", "f13bc09d"),
        ("key = bytes.fromhex('000102030405060708090a0b0c0d0e0f')\n", "000102"),
        ("JWT_SECRET=change-this-to-a-long-random-string\n", "change-this"),
        ("secret = os.environ['APP_SECRET']\n", "APP_SECRET"),
        ("token: '${{ secrets.NPM_TOKEN }}'\n", "secrets.NPM_TOKEN"),
        ("public_key = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'\n", "MFkw"),
        ("sort_key = 'createdAtTimestampDesc'\n", "createdAt"),
        (f"icon_key = 'data:image/png;base64,{rs(r, B64, 60)}=='\n", "data:image"),
        ("secret = r'([a-zA-Z0-9_\\-]{44}(?![a-zA-Z0-9_\\-]))'\n", "([a-zA-Z"),
        ("    token: :class:`FlagValues`, the registry\n", ":class:"),
        ('        "NextToken": "eyJOZXh0VG9rZW4iOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="\n', "eyJOZXh0"),
        ("EMRFS_CONSISTENT_KEY = 'fs.s3.consistent.retryPeriodSeconds'\n", "fs.s3"),
        ("        create_key=_descriptor._internal_create_key),\n", "_descriptor"),
        ('        "Key": "aws:cloudformation:stack-name",\n', "aws:cloud"),
        ('    return shared(RandomModule(), key="hypothesis.strategies.random_module()")\n', "hypothesis"),
        ('  "S3ObjectKey": "aws-codepipeline-s3-aws-codedeploy_linux.zip"\n', "aws-codepipeline"),
        ('    "key": "myPipeline/SourceArtifact/key"\n', "myPipeline"),
        ('#define LN_pbe_WithSHA1And3_Key_TripleDES_CBC  "pbeWithSHA1And3-KeyTripleDES-CBC"\n', "pbeWith"),
        ('  "PurchaseToken": "eyJ2IjoiMSIsInMiOjEsImMiOi...",\n', "eyJ2"),
        ('    --filters "Key=domain-name-servers,Values=10.2.5.1,10.2.5.2"\n', "domain-name"),
    ]


def g_password_assignment(r):
    pw = password(r)
    return [(f"password = {pw}\n", pw), (f"  POSTGRES_PASSWORD: {pw}\n", pw), (f"'PASSWORD': '{pw}',\n", pw),
            (f"spring.datasource.password={pw}\n", pw), (f'#define WIFI_PASSWORD "{pw}"\n', pw)], [
        ("SMTP_PASSWORD=<your-password>\n", "<your-password>"), ("password: ********\n", "********"),
        ("password = request.form['password']\n", "request"), ("password_hash = 'pbkdf2:sha256:600000$abc'\n", "pbkdf2"),
        ("if password == 'x':\n", "'x'"), ("password = changeme\n", "changeme"),
        ("DB_PASSWORD=${DB_PASSWORD}\n", "${DB_PASSWORD}"), ("PASSWORD_MIN_LENGTH = 12\n", "12"),
        ("key_or_pass = r'(?:key|pwd|password|pass|token)'\n", "(?:key"), ("password = --full-trace\n", "--full-trace"),
        ('    "Pass `safe=False` to allow loading pickled weights."\n', "safe=False"),
        ('#define SN_dhSinglePass_stdDH_sha1kdf_scheme  "dhSinglePass-stdDH-sha1kdf-scheme"\n', "dhSinglePass-std"),
        ("  Pass *ResultPass = Resolver->getAnalysis(PI);\n", "Resolver"),
        ("def connect(host, password):\n    conn.auth(user, password=password_for(host))\n", "password_for"),
        ("    password = secrets_store.lookup\n", "secrets_store")]


def g_ssh_login(r):
    u = handle(r)
    return [(f"ssh {u}@{global_ipv4(r)} 'uptime'\n", u)], [("git clone git@github.com:acme/site.git\n", "git@"),
                                                          ("ssh root@host.acme.io\n", "root")]


def g_email(r):
    e = email_of(r)
    return [(f"# contact: {e}\n", e), (f'<a href="mailto:{e}">mail</a>', e)], [
        ("author = 'jane.doe@example.com'\n", "jane.doe@example.com"), ("From: noreply@github.com\n", "noreply"),
        ("git@github.com:acme/x.git\n", "git@github.com"), ('<img src="logo@2x.png">', "logo@2x.png"),
        ('"@types/node": "^20.0.0"', "@types/node"), ("user@localhost.localdomain\n", "user@localhost"),
        ("sender: test@myapp.test\n", "test@myapp.test")]


def g_ipv4(r):
    ip = global_ipv4(r)
    return [(f"host = {ip}\n", ip), (f"proxy_pass http://{ip}:8080;\n", ip)], [
        ("host = 10.1.2.3\n", "10.1.2.3"), ("bind 127.0.0.1\n", "127.0.0.1"), ("dns: 8.8.8.8\n", "8.8.8.8"),
        ("meta: 169.254.169.254\n", "169.254.169.254"), ("doc: 192.0.2.44\n", "192.0.2.44"),
        ('APP_VERSION: "3.4.7.106"\n', "3.4.7.106"), ('#define FW_VERSION "9.3.30.31"\n', "9.3.30.31"),
        ("oid 1.3.6.1.4.1.311\n", "1.3.6.1"), ("listen 0.0.0.0:80\n", "0.0.0.0"),
        ("      // 23.3.4.5 modifiers:\n", "23.3.4.5"), ("  /// class ctype_byname [22.2.1.2].\n", "22.2.1.2"),
        ("# the HTML 5 spec, section 8.1.2.2, does not allow it\n", "8.1.2.2"),
        ("'1.0.0.127.in-addr.arpa'\n", "1.0.0.127")]


def g_ipv6(r):
    ip = f"2a0{r.randint(1, 9)}:{r.randint(0x1000, 0xffff):x}:{r.randint(1, 0xffff):x}::{r.randint(1, 0xffff):x}"
    return [(f"AAAA record: {ip}\n", ip), (f"listen [{ip}]:443;\n", ip)], [
        ("listen [::]:80;\n", "::"), ("addr ::1\n", "::1"), ("doc 2001:db8::1\n", "2001:db8"),
        ("mac 95:3f:62:d5:54:24\n", "95:3f"), ("std::vector<int> v;\n", "::"), ("at 08:10:33 today\n", "08:10:33"),
        ("ula fd12:3456::1\n", "fd12")]


def g_name_with_email(r):
    n, e = person(r), email_of(r)
    return [(f"maintainer: \"{n} <{e}>\"\n", n), (f"    ('{n}', '{e}'),\n", n),
            (f'{{"name": "{n}", "email": "{e}"}}', n), (f'<a href="mailto:{e}">{n}</a>', n)], [
        ("GitHub <noreply@github.com>\n", "GitHub"), ("Acme Support <help@example.com>\n", "Acme Support")]


def g_name_after_trigger(r):
    n = person(r)
    return [(f"# Author: {n}\n", n), (f" * Copyright (C) 2016 {n}\n", n), (f"Signed-off-by: {n}\n", n),
            (f" * @author {n}\n", n), (f"MIT. Copyright (c) 2015 {n}.\n", n)], [
        (" * the Free Software Foundation; either version 2\n", "Free Software"),
        ("Copyright 2020 The Chromium Authors\n", "Chromium"),
        ("Copyright (c) 2021 Acme Widgets Inc\n", "Acme Widgets")]


def g_name_with_handle(r):
    n = person(r)
    return [(f"- {n} (@{handle(r)})\n", n), (f"- {n} ([@{handle(r)}](https://github.com/x))\n", n)], [
        ("- Use Fisher-Yates instead (@see docs)\n", "Fisher-Yates")]


def g_username_handle(r):
    h = handle(r)
    return [(f"- Crash fixed (#12). Thanks @{h}!\n", h), (f"// maintainer: @{h}\n", h)], [
        ("    @Override\n    public String toString()", "Override"), ("@app.route('/x')\n", "app"),
        ('"@types/node": "1"', "types"), ("# This file is @generated by Cargo.\n", "generated"),
        (" * @param name the name\n", "param"), ("@media screen {", "media"), ("mail bob@acme-corp.io", "acme-corp"),
        ("    'Return a >= b.  Computed by @total_ordering from (a < b).'\n", "total_ordering"),
        ("   * @returns true if @a __lhs does not precede @a __rhs\n", "__lhs"),
        ("   *   Available properties are @hinting-engine, @no-stem-darkening,\n", "hinting-engine"),
        ("          '   @f2\\n'\n", "f2")]


def g_username_profile_url(r):
    h = handle(r)
    return [(f"(https://github.com/{h})\n", h)], [("https://github.com/acme/tool.git\n", "acme"),
                                                ("https://github.com/settings/tokens\n", "settings")]


def g_username_todo(r):
    h = handle(r)
    return [(f"# TODO({h}): move to vault\n", h)], [("# TODO(root): nothing\n", "root")]


def g_username_merge(r):
    h = handle(r)
    return [(f"    Merge pull request #839 from {h}/fix-typo\n", h)], [("Merge branch 'main' into dev\n", "main")]


def g_username_assignment(r):
    h = handle(r)
    return [(f"user = {h}\n", h), (f"spring.datasource.username={h}\n", h), (f"Host bastion\n    User {h}\n", h),
            (f'private static final String USER = "{h}";\n', h)], [
        ("POSTGRES_USER: postgres\n", "postgres"), ("User root\n", "root"), ("user = request.user\n", "request"),
        ("USER_AGENT = 'Mozilla/5.0'\n", "Mozilla"), ("user_id = 42\n", "42"),
        ("def f(user: bool = True):\n    user = uname\n    return user\n", "uname"),
        ("    the user will be asked again\n", "will"), ('#define hpXK_User\t\t0x1000FF6E\n', "0x1000FF6E"),
        ("user = '4320de44-2322-4620-999b-5e2e1c8df013'\n", "4320de44"), ("  login: GNUTLS_A_UNKNOWN_PSK_IDENTITY\n", "GNUTLS")]



def g_provider_token(r):
    toks = ["dapi" + rs(r, HEX, 32), "lin_api_" + rs(r, ALNUM, 40), "rubygems_" + rs(r, HEX, 48),
            "sbp_" + rs(r, HEX, 40), "gsk_" + rs(r, ALNUM, 52), "dckr_pat_" + rs(r, ALNUM, 27)]
    t = r.choice(toks)
    return [(f"TOKEN={t}\n", t), (f'client = Client(token="{t}")\n', t)], [
        ("DATABRICKS_TOKEN=dapixxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "dapix"),
        ("see docs/lin_api_keys.md\n", "lin_api_")]


def g_basic_auth_header(r):
    b64 = base64.b64encode(f"{handle(r)}:{password(r)}".encode()).decode()
    dummy = base64.b64encode(b"username:password").decode()
    return [(f"Authorization: Basic {b64}\n", b64), (f"headers = {{'Authorization': 'Basic {b64}'}}\n", b64)], [
        (f"Authorization: Basic {dummy}\n", dummy), ("# uses basic authentication for the admin site\n", "authentication")]


def g_header_credential(r):
    k = rs(r, ALNUM, 32)
    return [(f"curl -H 'X-API-Key: {k}' https://api.{word(r)}.io/v1\n", k), (f"tool deploy --api-key {k}\n", k),
            (f"Private-Token: {k}\n", k)], [
        ("curl -H 'X-API-Key: $API_KEY' https://api.svc.io\n", "$API_KEY"),
        ("cli --token-file ./secrets/token.txt\n", "./secrets"), ("X-Api-Key: <your-api-key>\n", "<your")]


def g_sql_password(r):
    pw = password(r)
    return [(f"CREATE USER 'app'@'%' IDENTIFIED BY '{pw}';\n", pw), (f"ALTER ROLE app WITH PASSWORD '{pw}';\n", pw)], [
        ("CREATE USER app IDENTIFIED BY 'changeme';\n", "changeme"),
        ("ALTER USER app IDENTIFIED BY '<password>';\n", "<password>")]

GENERATORS: dict[str, Gen] = {
    name[2:].replace("_", "-"): fn for name, fn in dict(globals()).items() if name.startswith("g_") and callable(fn)
}
