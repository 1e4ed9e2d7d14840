//! The rule table. Order is priority: when two findings overlap, the earlier rule wins.
//!
//! Each entry names the type it reports, says what it finds, lists the keywords that must occur in
//! a document before it runs (ASCII case-insensitive; empty = always runs) and how it matches: a
//! regex whose capture group is the value, followed by an optional validator, or a hand-written
//! matcher for detectors that need parsing (assignments, URIs, e-mail and IP scopes, names).
//! `Companion` entries are emitted by the matcher of another entry (e.g. the user part of a URI
//! whose password the `uri-credentials` matcher found) and exist so every finding names its rule.
//!
//! Every rule is exercised by `tests/pii/test_rules.py`, which synthesises true positives and known
//! false positives for each id at test time.

use std::sync::OnceLock;

use regex::Regex;

use super::validate::{github_checksum_ok, is_patterned, is_placeholder, jwt_ok, looks_random, shannon_entropy};
use super::{assign, network, people, Cand, Doc, Engine, PiiType};

/// Validator of a regex match: gets the document and the byte range of the captured value.
pub type Check = fn(&Doc<'_>, usize, usize) -> bool;
/// Hand-written matcher: pushes candidates (tagged with rule indices) for rule `rule`.
pub type CustomFn = fn(&Engine, &Doc<'_>, usize, &mut Vec<Cand>);

pub enum Matcher {
    Regex { pattern: &'static str, group: usize, check: Option<Check> },
    Custom(CustomFn),
    Companion,
}

pub struct Rule {
    pub id: &'static str,
    pub kind: PiiType,
    pub description: &'static str,
    pub keywords: &'static [&'static str],
    pub matcher: Matcher,
}

/// Index of a rule by id (companion lookups; the table is small).
pub fn rule_index(id: &str) -> usize {
    RULES.iter().position(|r| r.id == id).unwrap_or(0)
}

fn bytes_around(doc: &Doc<'_>, s: usize, e: usize) -> (Option<u8>, Option<u8>) {
    let b = doc.text.as_bytes();
    (s.checked_sub(1).map(|i| b[i]), b.get(e).copied())
}

fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-')
}

/// The value is a whole token (no word characters glued on either side) and not a placeholder.
fn provider_token(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    let (before, after) = bytes_around(doc, s, e);
    if before.is_some_and(token_char) || after.is_some_and(token_char) {
        return false;
    }
    let v = &doc.text[s..e];
    !is_placeholder(v) && !is_patterned(v) && shannon_entropy(v) >= 3.0
}

fn github_token(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    provider_token(doc, s, e) && github_checksum_ok(&doc.text[s..e])
}

fn jwt(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    provider_token(doc, s, e) && jwt_ok(&doc.text[s..e])
}

fn random_value(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    let (before, after) = bytes_around(doc, s, e);
    let glued = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_');
    !before.is_some_and(glued) && !after.is_some_and(glued) && looks_random(&doc.text[s..e])
}

/// Slack tokens: the long random form, or the older `xox?-<workspace digits>-…-<suffix>` shape whose
/// dash-separated digit groups are the format (placeholders such as `xoxb-your-token` have none).
fn slack_token(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    let (before, after) = bytes_around(doc, s, e);
    if before.is_some_and(token_char) || after.is_some_and(|c| token_char(c) || c == b'.') {
        return false;
    }
    let v = &doc.text[s..e];
    let body = &v[5..];
    if is_placeholder(v) || is_patterned(body) || body.len() < 6 {
        return false;
    }
    // Long form: random. Short form: digit groups then an alphanumeric suffix.
    let groups: Vec<&str> = body.split('-').collect();
    let structured = groups.len() >= 2 && groups[..groups.len() - 1].iter().all(|g| !g.is_empty() && g.bytes().all(|c| c.is_ascii_digit()));
    structured || shannon_entropy(v) >= 3.0
}

/// Telegram bot tokens: `<bot id>:<secret>` — an 8-10 digit id, a colon and 35 characters of
/// base64url alphabet with upper case, lower case and digits (a random secret, not a word or a
/// hash). Standalone or inside an API URL (`/bot<id>:<secret>/`). Found by scanning colons, which
/// is cheaper than a regex without a literal prefix.
fn telegram_tokens(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let b = doc.text.as_bytes();
    for c in memchr::memchr_iter(b':', b) {
        if c < 8 || c + 36 > b.len() || !b[c - 1].is_ascii_digit() {
            continue;
        }
        let mut s = c;
        while s > 0 && b[s - 1].is_ascii_digit() && c - s <= 10 {
            s -= 1;
        }
        let id_len = c - s;
        if !(8..=10).contains(&id_len) {
            continue;
        }
        let glued_before = s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_') && !(s >= 3 && &b[s - 3..s] == b"bot");
        let e = c + 36;
        let secret = &b[c + 1..e];
        if glued_before
            || !secret.iter().all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'-'))
            || b.get(e).is_some_and(|&x| token_char(x))
        {
            continue;
        }
        let v = &doc.text[c + 1..e];
        let (lo, up, di, _) = super::validate::classes(v);
        if lo && up && di && !is_placeholder(v) && !is_patterned(v) && shannon_entropy(v) >= 3.5 {
            out.push(Cand { start: s, end: e, rule });
        }
    }
}

fn npmrc_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"(?m)(?:^[ \t]*|:)_(?:authToken|auth)[ \t]*=[ \t]*["']?([^\s"'`]+)"#).expect("static regex"))
}

/// `.npmrc` / `.yarnrc` registry credentials: `//registry/:_authToken=…` and `_auth=…`, wherever the
/// line appears (the file itself, an `echo` into it, a string in a CI script). Legacy npm tokens are
/// UUIDs, so a UUID counts here.
fn npmrc_auth(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    for caps in npmrc_re().captures_iter(doc.text) {
        let Some(m) = caps.get(1) else { continue };
        let v = m.as_str().trim_end_matches([',', ';', ')']);
        let (lo, up, di, _) = super::validate::classes(v);
        let mixed = u8::from(lo) + u8::from(up) + u8::from(di) >= 2;
        let token_chars = v.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-' | b'.'));
        if v.len() >= 8 && mixed && token_chars && !is_placeholder(v) && !is_patterned(v) {
            out.push(Cand { start: m.start(), end: m.start() + v.len(), rule });
        }
    }
}

fn pem_begin_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----").expect("static regex"))
}

/// From `-----BEGIN … PRIVATE KEY-----` to the end of the next `-----END … PRIVATE KEY-----` line,
/// when the body is real key material (not `...` or a placeholder).
fn private_key_blocks(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let mut from = 0;
    while let Some(m) = pem_begin_re().find_at(text, from) {
        from = m.end();
        let window_end = (m.end() + 32_768).min(text.len());
        let mut window_end = window_end;
        while !text.is_char_boundary(window_end) {
            window_end -= 1;
        }
        let Some(rel) = text[m.end()..window_end].find("-----END") else { continue };
        let end_line = m.end() + rel;
        let Some(close) = text[end_line + 8..window_end].find("-----") else { continue };
        let end = end_line + 8 + close + 5;
        if !text[end_line..end].contains("PRIVATE KEY") {
            continue;
        }
        let body = &text[m.end()..end_line];
        let payload: String = body.lines().filter(|l| !l.contains(':')).flat_map(str::chars).filter(|c| !c.is_whitespace()).collect();
        let b64 = payload.bytes().filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')).count();
        if b64 >= 64 && !payload.contains("...") && !is_placeholder(&payload) && shannon_entropy(&payload) >= 4.0 {
            out.push(Cand { start: m.start(), end, rule });
            from = end;
        }
    }
}

pub static RULES: &[Rule] = &[
    // ---- KEY: provider formats (validated shapes, highest priority) ----
    Rule {
        id: "private-key-block",
        kind: PiiType::Key,
        description: "PEM or OpenSSH private key block, from -----BEGIN to the end of the -----END line",
        keywords: &["PRIVATE KEY-----"],
        matcher: Matcher::Custom(private_key_blocks),
    },
    Rule {
        id: "aws-access-key-id",
        kind: PiiType::Key,
        description: "AWS access key id (AKIA/ASIA/ABIA/ACCA + 16 base32 characters)",
        keywords: &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        matcher: Matcher::Regex {
            pattern: r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b",
            group: 1,
            check: Some(provider_token),
        },
    },
    Rule {
        id: "aws-secret-access-key",
        kind: PiiType::Key,
        description: "AWS secret access key: 40 base64 characters assigned to an aws…secret name",
        keywords: &["aws"],
        matcher: Matcher::Regex {
            pattern: r#"(?i:aws)[\w.\-]{0,24}(?i:secret)[\w.\-]{0,24}["']?\s*(?:[:=]|=>|,)\s*[rbu]?["']?([A-Za-z0-9/+]{40})"#,
            group: 1,
            check: Some(random_value),
        },
    },
    Rule {
        id: "github-token",
        kind: PiiType::Key,
        description: "GitHub token (ghp_/gho_/ghu_/ghs_/ghr_) whose CRC32 checksum verifies",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        matcher: Matcher::Regex { pattern: r"\bgh[pousr]_[A-Za-z0-9]{36}\b", group: 0, check: Some(github_token) },
    },
    Rule {
        id: "github-fine-grained-pat",
        kind: PiiType::Key,
        description: "GitHub fine-grained personal access token (github_pat_…)",
        keywords: &["github_pat_"],
        matcher: Matcher::Regex { pattern: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "gitlab-token",
        kind: PiiType::Key,
        description: "GitLab token: personal, pipeline-trigger, deploy, feed, OAuth-app, runner, CI-build, incoming-mail, agent, OAuth-application secret (glpat-, glptt-, gldt-, glft-, glsoat-, glrt-, glcbt-, glimt-, GR1348941, glagent-, gloas-)",
        keywords: &["glpat-", "glptt-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "GR1348941", "glagent-", "gloas-"],
        matcher: Matcher::Regex {
            pattern: r"\b(?:(?:(?:glpat|glptt|gldt|glft|glsoat|glrt|glimt)-|glcbt-(?:[0-9a-fA-F]{2}_)?|GR1348941)[A-Za-z0-9_\-]{20,50}|glagent-[A-Za-z0-9_\-]{50,}|gloas-[A-Za-z0-9_\-]{64})",
            group: 0,
            check: Some(|d, s, e| e - s <= 1100 && provider_token(d, s, e)),
        },
    },
    Rule {
        id: "slack-webhook",
        kind: PiiType::Key,
        description: "Slack incoming-webhook or workflow URL (the URL is the credential; labelled whole, whatever the segment lengths)",
        keywords: &["hooks.slack.com"],
        matcher: Matcher::Regex {
            pattern: r"https://hooks\.slack\.com/(?:services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+|(?:services|workflows|triggers)/[A-Za-z0-9_\-]{6,}/[A-Za-z0-9_\-]{6,}/[A-Za-z0-9_\-]{12,})",
            group: 0,
            check: Some(|doc, s, e| !is_placeholder(&doc.text[s..e])),
        },
    },
    Rule {
        id: "slack-token",
        kind: PiiType::Key,
        description: "Slack bot/user/app token (xoxb-, xoxp-, xoxa-, xoxe-, xoxr-, xoxs-; long random or workspace-id-dash shapes)",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxe", "xoxr-", "xoxs-", "xoxo-"],
        matcher: Matcher::Regex {
            pattern: r"\bxox[abeoprs](?:\.xox[a-z])?-[0-9A-Za-z\-]{20,}|\bxox[abposr]-(?:[0-9]+-)+[0-9A-Za-z]+",
            group: 0,
            check: Some(slack_token),
        },
    },
    Rule {
        id: "stripe-key",
        kind: PiiType::Key,
        description: "Stripe live secret or restricted key (sk_live_, rk_live_)",
        keywords: &["sk_live_", "rk_live_"],
        matcher: Matcher::Regex { pattern: r"\b[sr]k_live_[0-9A-Za-z]{16,}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "stripe-webhook-secret",
        kind: PiiType::Key,
        description: "Stripe webhook signing secret (whsec_)",
        keywords: &["whsec_"],
        matcher: Matcher::Regex { pattern: r"\bwhsec_[0-9A-Za-z]{24,}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "google-api-key",
        kind: PiiType::Key,
        description: "Google API key (AIza + 35 characters)",
        keywords: &["AIza"],
        matcher: Matcher::Regex { pattern: r"\bAIza[0-9A-Za-z_\-]{35}", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "openai-key",
        kind: PiiType::Key,
        description: "OpenAI API key (sk-…T3BlbkFJ…, sk-proj-…, legacy sk- + 48)",
        keywords: &["T3BlbkFJ", "sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"],
        matcher: Matcher::Regex {
            pattern: r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}|[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}|[A-Za-z0-9]{48})",
            group: 0,
            check: Some(provider_token),
        },
    },
    Rule {
        id: "anthropic-key",
        kind: PiiType::Key,
        description: "Anthropic API key (sk-ant-api03-…)",
        keywords: &["sk-ant-"],
        matcher: Matcher::Regex { pattern: r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,}", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "huggingface-token",
        kind: PiiType::Key,
        description: "Hugging Face access token (hf_ + 34 letters)",
        keywords: &["hf_"],
        matcher: Matcher::Regex { pattern: r"\bhf_[A-Za-z0-9]{34}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "npm-token",
        kind: PiiType::Key,
        description: "npm access token (npm_ + 36)",
        keywords: &["npm_"],
        matcher: Matcher::Regex { pattern: r"\bnpm_[A-Za-z0-9]{36}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "pypi-token",
        kind: PiiType::Key,
        description: "PyPI or TestPyPI upload token (pypi-AgEIcHlwaS5vcmc…, pypi-AgENdGVzdC5weXBpLm9yZw…)",
        keywords: &["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"],
        matcher: Matcher::Regex { pattern: r"\bpypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,}", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "sendgrid-key",
        kind: PiiType::Key,
        description: "SendGrid API key (SG.<22>.<43>)",
        keywords: &["SG."],
        matcher: Matcher::Regex { pattern: r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "twilio-key",
        kind: PiiType::Key,
        description: "Twilio API key SID (SK + 32 hex)",
        keywords: &[],
        matcher: Matcher::Regex { pattern: r"\bSK[0-9a-f]{32}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "azure-storage-key",
        kind: PiiType::Key,
        description: "Azure storage account key in a connection string (AccountKey=<88 base64>)",
        keywords: &["AccountKey="],
        matcher: Matcher::Regex { pattern: r"AccountKey=([A-Za-z0-9+/]{86,88}={0,2})", group: 1, check: Some(|d, s, e| looks_random(&d.text[s..e])) },
    },
    Rule {
        id: "mailchimp-key",
        kind: PiiType::Key,
        description: "Mailchimp API key (32 hex + -usNN data-centre suffix)",
        keywords: &["-us"],
        matcher: Matcher::Regex { pattern: r"\b[0-9a-f]{32}-us[0-9]{1,2}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "shopify-token",
        kind: PiiType::Key,
        description: "Shopify access token or shared secret (shpat_, shpca_, shppa_, shpss_ + 32 hex)",
        keywords: &["shpat_", "shpca_", "shppa_", "shpss_"],
        matcher: Matcher::Regex { pattern: r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "digitalocean-token",
        kind: PiiType::Key,
        description: "DigitalOcean personal access or OAuth token (dop_v1_, doo_v1_ + 64 hex)",
        keywords: &["dop_v1_", "doo_v1_", "dor_v1_"],
        matcher: Matcher::Regex { pattern: r"\bdo[opr]_v1_[a-f0-9]{64}\b", group: 0, check: Some(provider_token) },
    },
    Rule {
        id: "telegram-bot-token",
        kind: PiiType::Key,
        description: "Telegram bot token (<8-10 digit bot id>:<35 random characters>, also inside /bot<token>/ URLs)",
        keywords: &[],
        matcher: Matcher::Custom(telegram_tokens),
    },
    Rule {
        id: "jwt",
        kind: PiiType::Key,
        description: "JSON Web Token whose header decodes to JSON with an alg (the jwt.io sample is excluded)",
        keywords: &["eyJ"],
        matcher: Matcher::Regex {
            pattern: r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}",
            group: 0,
            check: Some(jwt),
        },
    },
    Rule {
        id: "provider-token",
        kind: PiiType::Key,
        description: "Prefixed tokens of other providers (Databricks, Doppler, Postman, Linear, Pulumi, RubyGems, Terraform \
Cloud, Grafana, New Relic, Atlassian, age, Vault, Sentry, PlanetScale, Fly.io, Supabase, Replicate, Groq, xAI, Perplexity, \
Square, Brevo, Shippo, Clojars, Duffel, EasyPost, Notion, Typeform, Docker Hub, Figma, Artifactory, Dynatrace, \
Alibaba, Google OAuth client secret, Mapbox, Mailgun, Azure AD client secret)",
        keywords: &[
            "dapi", "dp.", "pmak-", "lin_api_", "pul-", "rubygems_", ".atlasv1.", "glc_", "glsa_", "nrak-", "atatt3",
            "age-secret-key-", "hvs.", "hvb.", "sntrys_", "sntryu_", "pscale_", "fo1_", "sbp_", "r8_", "gsk_", "xai-",
            "pplx-", "sq0", "eaaa", "xkeysib-", "shippo_", "clojars_", "duffel_", "ezak", "ntn_", "secret_", "tfp_",
            "dckr_pat_", "figd_", "akcp", "dt0c01.", "ltai", "gocspx-", "sk.eyj", "key-", "q~",
        ],
        matcher: Matcher::Regex {
            pattern: r"(?:^|[^A-Za-z0-9_\-])((?:dapi[a-f0-9]{32}(?:-\d)?|dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|lin_api_[A-Za-z0-9]{40}|pul-[a-f0-9]{40}|rubygems_[a-f0-9]{48}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}|glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|NRAK-[A-Z0-9]{27}|ATATT3[A-Za-z0-9_\-=]{186}|AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}|hv[sb]\.[A-Za-z0-9_\-]{24,}|sntrys_eyJ[A-Za-z0-9_=+/\-]{60,}|sntryu_[a-f0-9]{64}|pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-=.]{32,64}|fo1_[A-Za-z0-9_\-]{43}|sbp_[a-f0-9]{40}|r8_[A-Za-z0-9]{37}|gsk_[A-Za-z0-9]{52}|xai-[A-Za-z0-9]{80}|pplx-[A-Za-z0-9]{48}|sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,43}|EAAA[A-Za-z0-9_\-]{60}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|shippo_(?:live|test)_[a-f0-9]{40}|CLOJARS_[a-z0-9]{60}|duffel_(?:test|live)_[A-Za-z0-9_\-=]{43}|EZAK[A-Za-z0-9]{54}|ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}|tfp_[A-Za-z0-9_\-.=]{59}|dckr_pat_[A-Za-z0-9_\-]{27}|figd_[A-Za-z0-9_\-]{40}|AKCp[A-Za-z0-9]{69}|dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}|LTAI[A-Za-z0-9]{20}|GOCSPX-[A-Za-z0-9_\-]{28}|sk\.eyJ[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{20,}|key-[0-9a-f]{32}|[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}))(?:$|[^A-Za-z0-9_\-])",
            group: 1,
            check: Some(provider_token),
        },
    },
    Rule {
        id: "npmrc-auth",
        kind: PiiType::Key,
        description: "npm/yarn registry credential in an .npmrc line (//registry/:_authToken=…, _auth=…), legacy UUID tokens included",
        keywords: &["_authtoken", "_auth"],
        matcher: Matcher::Custom(npmrc_auth),
    },
    Rule {
        id: "bearer-token",
        kind: PiiType::Key,
        description: "High-entropy credential after an HTTP `Bearer` / `token` authorization scheme",
        keywords: &["bearer"],
        matcher: Matcher::Regex { pattern: r"\b(?i:bearer)\s+([A-Za-z0-9._~+/\-]{16,}=*)", group: 1, check: Some(random_value) },
    },
    // ---- credentials in URIs and on command lines ----
    Rule {
        id: "uri-credentials",
        kind: PiiType::Password,
        description: "Password of a URI with credentials (scheme://user:password@host)",
        keywords: &["://"],
        matcher: Matcher::Custom(assign::uri_credentials),
    },
    Rule {
        id: "uri-username",
        kind: PiiType::Username,
        description: "User part of a URI with credentials (emitted by uri-credentials)",
        keywords: &[],
        matcher: Matcher::Companion,
    },
    Rule {
        id: "password-cli-flag",
        kind: PiiType::Password,
        description: "Password passed on a command line (mysql -p'…', --password=…, sshpass -p, curl -u user:pass)",
        keywords: &["mysql", "mariadb", "sshpass", "--password", "--pass", "curl", "redis-cli"],
        matcher: Matcher::Custom(assign::cli_password),
    },
    Rule {
        id: "cli-username",
        kind: PiiType::Username,
        description: "Login given to a database client on a command line (mysql/psql -u user; emitted by password-cli-flag)",
        keywords: &[],
        matcher: Matcher::Companion,
    },
    Rule {
        id: "password-call-argument",
        kind: PiiType::Password,
        description: "Literal password passed to a login/auth call (smtp.login(user, '…'), HTTPBasicAuth, auth=(…))",
        keywords: &["login(", "auth", "getconnection("],
        matcher: Matcher::Custom(assign::call_password),
    },
    Rule {
        id: "basic-auth-header",
        kind: PiiType::Password,
        description: "HTTP Basic credentials (Authorization: Basic <base64 of user:password>): the encoded value",
        keywords: &["basic "],
        matcher: Matcher::Regex {
            pattern: r"\b(?i:basic)\s+([A-Za-z0-9+/]{8,}={0,2})(?:$|[^A-Za-z0-9+/=])",
            group: 1,
            check: Some(assign::basic_auth_ok),
        },
    },
    Rule {
        id: "header-credential",
        kind: PiiType::Key,
        description: "Credential in an HTTP header or CLI flag named for one (X-API-Key: …, Private-Token: …, --api-key …, --token=…)",
        keywords: &["api-key", "apikey", "api_key", "-token", "private-token", "x-auth", "-secret", "access-key", "secret-key"],
        matcher: Matcher::Custom(assign::header_or_flag_credential),
    },
    Rule {
        id: "sql-password",
        kind: PiiType::Password,
        description: "Password in SQL account statements (IDENTIFIED BY '…', WITH [ENCRYPTED] PASSWORD '…')",
        keywords: &["identified by", "password '", "password \""],
        matcher: Matcher::Regex {
            pattern: r#"(?i:identified\s+by|with\s+(?:encrypted\s+|unencrypted\s+)?password|\bpassword\s+for\s+\S+\s*=)\s*(?:password\s*\(\s*)?['"]([^'"\n]{3,128})['"]"#,
            group: 1,
            check: Some(|d, s, e| assign::password_value_ok(&d.text[s..e])),
        },
    },
    // ---- assignments to secret/password/user names ----
    Rule {
        id: "secret-assignment",
        kind: PiiType::Key,
        description: "High-entropy value assigned to a key/secret/token name (code, .env, YAML, JSON, INI, properties)",
        keywords: &["key", "secret", "token", "auth", "credential", "_pat", "salt"],
        matcher: Matcher::Custom(assign::secret_assignment),
    },
    Rule {
        id: "password-assignment",
        kind: PiiType::Password,
        description: "Human-chosen password assigned to a password/passwd/pwd name",
        keywords: &["pass", "pwd", "pw"],
        matcher: Matcher::Custom(assign::password_assignment),
    },
    Rule {
        id: "secret-call-pair",
        kind: PiiType::Key,
        description: "Key/secret/token value given with its name as consecutive string-literal arguments (setenv(\"API_KEY\", \"…\"), put('secret', '…'), {\"token\", \"…\"}; emitted by secret-assignment)",
        keywords: &[],
        matcher: Matcher::Companion,
    },
    Rule {
        id: "password-call-pair",
        kind: PiiType::Password,
        description: "Password given with its name as consecutive string-literal arguments (setProperty(\"db.password\", \"…\"), define('DB_PASSWORD', '…'); emitted by password-assignment)",
        keywords: &[],
        matcher: Matcher::Companion,
    },
    // ---- network identifiers ----
    Rule {
        id: "ssh-login",
        kind: PiiType::Username,
        description: "Login of user@host in ssh/scp/rsync/sftp commands",
        keywords: &["ssh ", "scp ", "rsync ", "sftp ", "ssh://", "sftp://"],
        matcher: Matcher::Custom(people::ssh_login),
    },
    Rule {
        id: "email",
        kind: PiiType::Email,
        description: "E-mail address (placeholder domains, noreply, git@host remotes and file@2x assets excluded)",
        keywords: &["@"],
        matcher: Matcher::Custom(network::email),
    },
    Rule {
        id: "ipv4",
        kind: PiiType::IpAddress,
        description: "Globally routable IPv4 address (private, loopback, link-local, reserved, documentation, DNS resolvers and version strings excluded)",
        keywords: &[],
        matcher: Matcher::Custom(network::ipv4),
    },
    Rule {
        id: "ipv6",
        kind: PiiType::IpAddress,
        description: "Global-unicast IPv6 address (documentation, ULA, link-local and DNS resolvers excluded)",
        keywords: &[],
        matcher: Matcher::Custom(network::ipv6),
    },
    // ---- people ----
    Rule {
        id: "name-with-email",
        kind: PiiType::Name,
        description: "Full name next to an e-mail address (Name <mail>, ('Name', 'mail'), name/email fields, mailto links)",
        keywords: &["@"],
        matcher: Matcher::Custom(people::name_with_email),
    },
    Rule {
        id: "name-after-trigger",
        kind: PiiType::Name,
        description: "Full name after author/maintainer/copyright/Signed-off-by/Co-authored-by style triggers",
        keywords: &[
            "author", "maintainer", "copyright", "signed-off-by", "co-authored-by", "reviewed-by", "acked-by", "tested-by",
            "reported-by", "contact", "written by", "created by", "developed by", "maintained by", "contributor", "thanks to",
            "credits", "owner", "作者", "维护者", "著者", "작성자", "автор", "Автор",
        ],
        matcher: Matcher::Custom(people::name_after_trigger),
    },
    Rule {
        id: "name-with-handle",
        kind: PiiType::Name,
        description: "Full name followed by a (@handle) in contributor lists",
        keywords: &["(@", "([@"],
        matcher: Matcher::Custom(people::name_with_handle),
    },
    Rule {
        id: "username-handle",
        kind: PiiType::Username,
        description: "@handle mention (decorators, annotations, doc tags, scoped packages and e-mail excluded)",
        keywords: &["@"],
        matcher: Matcher::Custom(people::handle),
    },
    Rule {
        id: "username-profile-url",
        kind: PiiType::Username,
        description: "User of a GitHub/GitLab profile URL (github.com/<user> with no repository path)",
        keywords: &["github.com/", "gitlab.com/"],
        matcher: Matcher::Custom(people::profile_url),
    },
    Rule {
        id: "username-todo",
        kind: PiiType::Username,
        description: "Handle in TODO(handle) / FIXME(handle) comments",
        keywords: &["todo(", "fixme(", "xxx(", "hack(", "note("],
        matcher: Matcher::Regex {
            pattern: r"\b(?:TODO|FIXME|XXX|HACK|NOTE)\(([A-Za-z][A-Za-z0-9_.\-]{1,38})\)",
            group: 1,
            check: Some(|d, s, e| !people::is_generic_account(&d.text[s..e]) && !people::is_todo_topic(&d.text[s..e])),
        },
    },
    Rule {
        id: "username-merge",
        kind: PiiType::Username,
        description: "Fork owner in a merge-commit subject (Merge pull request #N from <user>/<branch>)",
        keywords: &["merge pull request"],
        matcher: Matcher::Regex {
            pattern: r"Merge pull request #\d+ from ([A-Za-z0-9][A-Za-z0-9_\-]{0,38})/",
            group: 1,
            check: Some(|d, s, e| !people::is_generic_account(&d.text[s..e])),
        },
    },
    Rule {
        id: "username-assignment",
        kind: PiiType::Username,
        description: "Login assigned to a user/username/login name (configs, DB settings, ssh_config User lines)",
        keywords: &["user", "login", "uname"],
        matcher: Matcher::Custom(assign::username_assignment),
    },
];
