//! Credentials found by their surroundings: `name = value` assignments in any of the usual syntaxes
//! (code, .env, YAML, JSON, INI, properties, `#define`, ssh_config, XML), URIs with credentials,
//! command-line password flags and login calls.
//!
//! The assignment scanner starts at each keyword hit (e.g. `secret` inside `JWT_SECRET`), widens it to
//! the whole name, classifies the name (KEY / PASSWORD / USERNAME, or neither: `password_hash`,
//! `public_key`, `token_url`), parses the separator and the value, and then judges the value: a
//! variable reference, template, mask or placeholder is never reported.

use std::sync::OnceLock;

use regex::Regex;

use super::people::is_generic_account;
use super::rules::rule_index;
use super::validate::{
    classes, contains_uuid, has_hash_context, identifier_like, is_digest_length, is_hex, is_patterned, is_placeholder, is_published_value,
    is_uuid, looks_random, shannon_entropy,
};
use super::{Cand, Doc, Engine, PiiType};

fn name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// Split an identifier into lowercase words: snake_case, kebab-case, dotted and camelCase.
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        // camelCase, ACRONYMWord and digitWord (`Ipv6Cidr`, `Ec2Subnet`) boundaries.
        let boundary = c.is_ascii_uppercase()
            && i > 0
            && (chars[i - 1].is_ascii_lowercase()
                || (chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase))
                || (chars[i - 1].is_ascii_uppercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase)));
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const KEY_TOKENS: &[&str] = &[
    "key", "apikey", "secretkey", "accesskey", "privatekey", "authkey", "signingkey", "masterkey", "encryptionkey",
    "clientkey", "appkey", "devkey", "licensekey", "sessionkey", "token", "secret", "credential", "credentials",
    "auth", "authtoken", "accesstoken", "apitoken", "bearer", "clientsecret", "appsecret", "jwtsecret", "pat",
    "salt",
];
const PASSWORD_TOKENS: &[&str] = &["password", "passwd", "pwd", "pass", "passphrase", "pw", "passw", "pword"];
const USER_TOKENS: &[&str] = &["user", "username", "usr", "uname", "login", "dbuser", "userid"];

/// Words that may follow `password` in a field that still holds a password.
const PASSWORD_SUFFIXES: &[&str] = &[
    "value", "prod", "production", "dev", "development", "staging", "live", "confirm", "confirmation", "again",
    "new", "old", "plain", "plaintext", "raw", "str", "string", "b64", "base64", "encoded", "1", "2",
];

/// Words that may follow `key`/`secret`/`token` in a field that still holds one (`secret_key_base`).
const KEY_SUFFIXES: &[&str] = &[
    "base", "value", "prod", "production", "live", "dev", "development", "staging", "b64", "base64", "hex", "bytes",
    "str", "string", "raw", "v1", "v2", "1", "2", "access", "private", "secret", "master", "hmac", "jwt", "api",
];

/// Words that turn a secret-looking name into metadata about the secret (or into something else).
const NOT_SECRET_TOKENS: &[&str] = &[
    "public", "pub", "hash", "hashed", "file", "path", "dir", "url", "uri", "endpoint", "length", "len", "size", "type",
    "name", "id", "ids", "count", "env", "field", "header", "prefix", "suffix", "expiry", "expires", "expiration",
    "expire", "ttl", "timeout", "max", "min", "policy", "format", "algorithm", "alg", "version", "cache", "primary",
    "foreign", "sort", "index", "partition", "lookup", "idempotency", "cursor", "page", "pagination", "csrf", "xsrf",
    "nonce", "arn", "region", "location", "provider", "class", "kind", "mode", "enabled",
    "required", "param", "label", "column", "map", "ref", "reference", "query", "limit", "usage", "rotation", "event",
    "events", "reset", "prompt", "hint", "placeholder", "strength", "regex", "pattern", "input", "form", "forgot",
    "encoder", "hasher", "check", "verify", "validator", "validation", "error", "message", "msg", "text", "title",
    "rules", "grant", "flow", "cmd", "command", "changed", "age", "valid", "store", "storage", "vault", "keychain",
    "keyring", "dialog", "button", "tab", "view", "widget", "help", "description", "doc", "docs", "example", "sample",
    "test", "mock", "fake", "dummy", "bits", "alias", "group", "agent", "home", "info", "model", "list", "table",
    "object", "obj", "attempts", "retries", "next", "continuation", "marker", "starting", "paging",
    "selection", "expression", "verifier", "gate", "export", "import", "unit", "work", "upload", "download",
];

/// Words that make a `…Token` a protocol token rather than a credential: concurrency change tokens
/// (`ChangeToken`), copy/operation tokens, and domain-verification tokens that are published in DNS.
const OPERATION_TOKEN_WORDS: &[&str] = &["change", "copy", "verification"];

/// Words before `key` that make it the key of a store or a data structure, not a credential.
const STRUCTURE_KEY_WORDS: &[&str] = &[
    "s3", "gcs", "object", "blob", "bucket", "row", "dict", "sort", "shard", "routing", "composite", "range", "result",
    "dest", "source", "src", "target", "group", "join", "redis", "memcache", "storage", "file", "item", "record",
    "socket",
];

/// Classify an assignment target by the last credential word in it.
pub fn classify_name(name: &str) -> Option<PiiType> {
    // `process.env.API_TOKEN`, `import.meta.env.VITE_API_KEY`: an environment accessor before the
    // variable is a path to it, not a word of its name (`API_KEY_ENV` still names a variable).
    let segs: Vec<&str> = name.split('.').collect();
    let name = match segs[..segs.len() - 1].iter().rposition(|s| s.eq_ignore_ascii_case("env")) {
        Some(p) => &name[segs[..=p].iter().map(|s| s.len() + 1).sum::<usize>()..],
        None => name,
    };
    let toks = name_tokens(name);
    let mut last: Option<(usize, PiiType)> = None;
    for (i, t) in toks.iter().enumerate() {
        let t = t.as_str();
        let kind = if PASSWORD_TOKENS.contains(&t) || t.contains("password") || t.contains("passwd") {
            Some(PiiType::Password)
        } else if KEY_TOKENS.contains(&t) || t.ends_with("secret") || t.ends_with("token") || t.ends_with("apikey") {
            Some(PiiType::Key)
        } else if USER_TOKENS.contains(&t) || t.ends_with("username") {
            Some(PiiType::Username)
        } else {
            None
        };
        if let Some(k) = kind {
            last = Some((i, k));
        }
    }
    let (pos, kind) = last?;
    // `user_name` is a username field; any other trailing word after the credential word
    // (`password_hash`, `token_url`, `secret_key_id`) or metadata word anywhere disqualifies it.
    let trailing = &toks[pos + 1..];
    // Other trailing words are judged by the metadata list below (`secret_key_base` is a key,
    // `token_expiry` is not).
    let allowed_trailing = |t: &String| match kind {
        PiiType::Username => t == "name",
        PiiType::Password => PASSWORD_SUFFIXES.contains(&t.as_str()),
        _ => KEY_TOKENS.contains(&t.as_str()) || KEY_SUFFIXES.contains(&t.as_str()),
    };
    if !trailing.iter().all(allowed_trailing) {
        return None;
    }
    let blocked = toks.iter().enumerate().any(|(i, t)| {
        let t = t.as_str();
        (NOT_SECRET_TOKENS.contains(&t) || (kind == PiiType::Key && OPERATION_TOKEN_WORDS.contains(&t)))
            && !(kind == PiiType::Username && t == "name" && i == pos + 1)
    });
    if blocked {
        return None;
    }
    // `S3Key`, `object_key`, `sort_key`: the key of a store or a structure (an object path, a column),
    // named by the word right before `key`. `aws_s3_secret_key` still ends in `secret key`.
    if kind == PiiType::Key && toks[pos] == "key" && pos > 0 && STRUCTURE_KEY_WORDS.contains(&toks[pos - 1].as_str()) {
        return None;
    }
    Some(kind)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Quoted,
}

/// One parsed `name <sep> value`. The flags are independent facts about the syntax, not a state.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)]
pub struct Assignment {
    pub name: (usize, usize),
    pub value: (usize, usize),
    pub quote: Quote,
    /// The name starts its line (after indentation, `export`, `set`, `#define`, `-`).
    pub line_leading: bool,
    /// Only whitespace separated name and value.
    pub space_separated: bool,
    /// `#define NAME "value"` / `set NAME value`: whitespace is the separator by syntax.
    pub define: bool,
    /// `NAME=value` with no spaces around `=` (shell, .env, properties).
    pub tight_eq: bool,
    /// The value was given as the argument of a setter call: `setPassword("…")`.
    pub call: bool,
    /// Name and value are consecutive string literals of one call or brace pair:
    /// `setenv("API_KEY", "…")`, `put('password', '…')`, `{"token", "…"}`.
    pub pair: bool,
}

fn skip_ws(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    i
}

/// The identifier holding the keyword at `kw`: widened over name bytes, within the line `ls..le`.
fn name_around(b: &[u8], ls: usize, le: usize, kw: (usize, usize)) -> (usize, usize) {
    let mut ns = kw.0;
    while ns > ls && name_byte(b[ns - 1]) {
        ns -= 1;
    }
    let mut ne = kw.1;
    while ne < le && name_byte(b[ne]) {
        ne += 1;
    }
    (ns, ne)
}

/// Parse the assignment whose name contains the keyword at `kw`.
pub fn parse_assignment(text: &str, kw: (usize, usize)) -> Option<Assignment> {
    let b = text.as_bytes();
    let (ls, le) = super::line_bounds(text, kw.0);
    let (mut ns, mut ne) = name_around(b, ls, le, kw);
    while ns < ne && matches!(b[ns], b'-' | b'.') {
        ns += 1;
    }
    while ne > ns && matches!(b[ne - 1], b'-' | b'.') {
        ne -= 1;
    }
    if ns >= ne {
        return None;
    }
    let before = text[ls..ns].trim_start();
    let before_trim = before.trim_end_matches(['"', '\'', '`', '[', '<', '$', '@', ' ', '\t']);
    // csh `setenv NAME value`, fish `set -gx NAME value`: whitespace-separated like `set`.
    let shell_set = before_trim == "setenv" || (before_trim.starts_with("set -") && !before_trim[5..].contains([' ', '\t']));
    let line_leading = before_trim.is_empty()
        || before_trim == "-"
        || before_trim == "export"
        || before_trim == "set"
        || shell_set
        || before_trim == "#define"
        || before_trim.ends_with(" export")
        || before_trim.starts_with("#define");
    let define = before_trim.starts_with("#define") || before_trim == "set" || shell_set;
    let open = ns.checked_sub(1).map(|i| b[i]);
    let mut i = ne;
    // Closing quote / bracket of the name: "password": , ['password'] =
    while i < le && matches!(b[i], b'"' | b'\'' | b'`' | b']' | b'\\') {
        i += 1;
    }
    let after_name = i;
    i = skip_ws(b, i, le);
    let mut space_separated = false;
    let xml = open == Some(b'<') && b.get(i) == Some(&b'>');
    if xml {
        let vs = i + 1;
        let rel = text[vs..le].find("</")?;
        return Some(Assignment {
            name: (ns, ne),
            value: (vs, vs + rel),
            quote: Quote::Quoted,
            line_leading,
            space_separated: false,
            define: false,
            tight_eq: false,
            call: false,
            pair: false,
        });
    }
    let rest = &b[i..le];
    let mut call = false;
    // `f("API_KEY", "…")`, `{"password", "…"}`: the bracket that opens the argument list.
    let pair_open = if rest.starts_with(b",") && after_name == ne + 1 { literal_argument_open(b, ls, ns, ne) } else { None };
    let pair = pair_open.is_some();
    let tight_eq = i == ne && rest.starts_with(b"=") && !rest.starts_with(b"==") && rest.get(1).is_some_and(|c| !c.is_ascii_whitespace());
    let sep_len = if rest.starts_with(b":=") || rest.starts_with(b"=>") || rest.starts_with(b"?=") {
        2
    } else if rest.starts_with(b"==") || rest.starts_with(b"::") {
        return None;
    } else if rest.starts_with(b"=") || rest.starts_with(b":") {
        1
    } else if pair {
        call = true;
        1
    } else if after_name == ne + 1 && open == b.get(ne).copied() && (rest.starts_with(b"->") || (i > after_name && rest.starts_with(b"to ")))
    {
        // Map entries whose operator is a word or an arrow: Kotlin `"password" to "…"`, Scala
        // `"api_key" -> "…"`. The quoted key keeps `$obj->password` (member access) out; only a
        // literal value counts.
        call = true;
        2
    } else if rest.starts_with(b"(") {
        // setPassword("…") / with_token('…')
        let lower = text[ns..ne].rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        if !(lower.starts_with("set") || lower.starts_with("with")) {
            return None;
        }
        call = true;
        1
    } else if i > after_name {
        space_separated = true;
        0
    } else {
        return None;
    };
    i = skip_ws(b, i + sep_len, le);
    if i >= le {
        return None;
    }
    // String prefixes: r"…", b'…', u"…", f"…" (f-strings are templates; judged by their content), @"…".
    let mut j = i;
    while j < le && j < i + 2 && matches!(b[j], b'r' | b'b' | b'u' | b'f' | b'R' | b'B' | b'U' | b'F' | b'@') {
        j += 1;
    }
    if j < le && matches!(b[j], b'"' | b'\'' | b'`') {
        i = j;
    }
    // A value quoted with escaped quotes inside another string (`"{\"password\": \"x\"}"`):
    // it ends at the escaped closing quote.
    if b[i] == b'\\' && i + 1 < le && matches!(b[i + 1], b'"' | b'\'') {
        let q = b[i + 1];
        let vs = i + 2;
        let rel = text[vs..le].find(if q == b'"' { "\\\"" } else { "\\'" })?;
        return Some(Assignment {
            name: (ns, ne),
            value: (vs, vs + rel),
            quote: Quote::Quoted,
            line_leading,
            space_separated,
            define,
            tight_eq,
            call,
            pair,
        });
    }
    let c = b[i];
    if matches!(c, b'"' | b'\'' | b'`') {
        let vs = i + 1;
        let mut k = vs;
        while k < le {
            if b[k] == b'\\' {
                k += 2;
                continue;
            }
            if b[k] == c {
                break;
            }
            k += 1;
        }
        if k >= le {
            return None;
        }
        // `"name": "x": …` — the quoted string is itself a mapping key, never a value.
        let after = skip_ws(b, k + 1, le);
        if b.get(after) == Some(&b':') && b.get(after + 1) != Some(&b':') {
            return None;
        }
        // A pair's value is a whole argument: it ends the call or the pair (`"…")`, `"…", 1)`,
        // `"…"}`), never part of an expression (`"…" + suffix`).
        match pair_open {
            Some(b'(') if !matches!(b.get(after), Some(b')' | b',')) => return None,
            Some(b'{') if b.get(after) != Some(&b'}') => return None,
            _ => {}
        }
        return Some(Assignment {
            name: (ns, ne),
            value: (vs, k),
            quote: Quote::Quoted,
            line_leading,
            space_separated,
            define,
            tight_eq,
            call,
            pair,
        });
    }
    if matches!(c, b'[' | b'{' | b'(' | b'|' | b'>' | b'&' | b'*' | b'!') && c != b'!' {
        return None;
    }
    let vs = i;
    let mut k = vs;
    if line_leading {
        // Config files (.env, INI, properties, YAML): the value runs to the next whitespace, and
        // never over a quote (a value ends at its own delimiters).
        while k < le && !matches!(b[k], b' ' | b'\t' | b'\r' | b'"' | b'\'' | b'`') {
            k += 1;
        }
        while k > vs && matches!(b[k - 1], b',' | b';' | b')' | b']' | b'}') {
            k -= 1;
        }
        let v = &text[vs..k];
        // …unless it is an expression: a name followed by a call or an index.
        let head = v.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(v.len());
        if head > 0 && head < v.len() && matches!(v.as_bytes()[head], b'(' | b'[') {
            return None;
        }
    } else {
        while k < le && !matches!(b[k], b' ' | b'\t' | b'"' | b'\'' | b'`' | b',' | b';' | b'(' | b')' | b'[' | b']' | b'}' | b'<' | b'>' | b'\r') {
            k += 1;
        }
    }
    // A following call, index or attribute makes it an expression, not a literal.
    if k < le && matches!(b[k], b'(' | b'[') {
        return None;
    }
    // The value closes a string the name opened (`"passwd:gecos"`, `'token:read'`): the whole
    // string is one word of data, not `name: value`. Connection and query strings keep their
    // `Password=…` pairs (separator `=`).
    if k < le && matches!(b[k], b'"' | b'\'' | b'`') && open == Some(b[k]) && !rest.starts_with(b"=") {
        return None;
    }
    // An operator after the value makes it an expression (`x86_cpu_PAT = x86_cpu_index_1_edx + 16`).
    let after = skip_ws(b, k, le);
    if after < le && after > k && matches!(b[after], b'+' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'?' | b'<' | b'>') {
        return None;
    }
    if k == vs {
        return None;
    }
    if call {
        return None;
    }
    // C/C++ `a = b->c`: the value stopped at '>' of an arrow.
    if k < le && b[k] == b'>' && k > vs && b[k - 1] == b'-' {
        return None;
    }
    Some(Assignment {
        name: (ns, ne),
        value: (vs, k),
        quote: Quote::None,
        line_leading,
        space_separated,
        define,
        tight_eq,
        call,
        pair,
    })
}

/// The opening bracket when the quoted string `ns..ne` (quotes at `ns - 1` and `ne`) is the first
/// argument of a call (`setenv("API_KEY", …)`, `System.setProperty("db.password", …)`), the second
/// after a string-literal first argument (`config.set('section', 'password', …)`), or the first
/// member of a brace pair (`{"api_key", …}`). A parenthesis counts only after a callee name: a bare
/// tuple or a parenthesised list is data whose shape says nothing about name and value.
fn literal_argument_open(b: &[u8], ls: usize, ns: usize, ne: usize) -> Option<u8> {
    let q = *b.get(ns.checked_sub(1)?)?;
    if !matches!(q, b'"' | b'\'') || b.get(ne) != Some(&q) {
        return None;
    }
    let back = |mut i: usize| {
        while i > ls && matches!(b[i - 1], b' ' | b'\t') {
            i -= 1;
        }
        i
    };
    let mut i = back(ns - 1);
    if i > ls && b[i - 1] == b',' {
        // One string-literal argument before the name, itself right after the opening bracket.
        i = back(i - 1);
        if i <= ls || !matches!(b[i - 1], b'"' | b'\'') {
            return None;
        }
        let pq = b[i - 1];
        let mut j = i - 1;
        while j > ls && b[j - 1] != pq {
            if matches!(b[j - 1], b'\\' | b'"' | b'\'' | b',') {
                return None;
            }
            j -= 1;
        }
        if j <= ls {
            return None;
        }
        i = back(j - 1);
        if i <= ls || b[i - 1] != b'(' {
            return None;
        }
    }
    if i <= ls {
        return None;
    }
    let callee = i >= ls + 2 && (b[i - 2].is_ascii_alphanumeric() || b[i - 2] == b'_');
    match b[i - 1] {
        b'(' if callee => Some(b'('),
        b'{' => Some(b'{'),
        _ => None,
    }
}

/// Read a value at `i` (quoted or bare) up to its own delimiters; `None` when empty or unterminated.
fn value_at(text: &str, i: usize, le: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let i = skip_ws(b, i, le);
    if i >= le {
        return None;
    }
    if matches!(b[i], b'"' | b'\'') {
        let q = b[i];
        let mut k = i + 1;
        while k < le && b[k] != q {
            k += if b[k] == b'\\' { 2 } else { 1 };
        }
        return (k < le && k > i + 1).then_some((i + 1, k));
    }
    let mut k = i;
    while k < le && !matches!(b[k], b' ' | b'\t' | b'\r' | b'"' | b'\'' | b',' | b'}' | b'>' | b'/' | b'#') {
        k += 1;
    }
    (k > i).then_some((i, k))
}

/// Position right after `value` + separator, when the line from `from` holds a `value` attribute or
/// field (`value="…"`, `"value": …`, `value: …`) as a whole word (not `valueFrom`, `defaultValue`).
fn value_field(text: &str, from: usize, le: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut at = from;
    while let Some(rel) = text[at..le].to_ascii_lowercase().find("value") {
        let s = at + rel;
        let e = s + 5;
        at = e;
        if s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_' || b[s - 1] == b'-') {
            continue;
        }
        let mut i = e;
        if i < le && matches!(b[i], b'"' | b'\'') {
            i += 1;
        }
        i = skip_ws(b, i, le);
        if i < le && matches!(b[i], b'=' | b':') && b.get(i + 1) != Some(&b'=') {
            return Some(i + 1);
        }
    }
    None
}

/// `name`/`value` pairs, where the secret-named identifier is data and the literal sits in a sibling
/// field: XML/.NET/Spring attributes (`<add key="ApiSecret" value="…"/>`, `<property name="password"
/// value="…"/>`), Kubernetes/ECS environment lists (`- name: DB_PASSWORD` then `value: …` on the
/// next line, `{"name": "API_TOKEN", "value": "…"}`).
pub fn name_value_pair(text: &str, kw: (usize, usize)) -> Option<Assignment> {
    let b = text.as_bytes();
    let (ls, le) = super::line_bounds(text, kw.0);
    let (ns, ne) = name_around(b, ls, le, kw);
    if ns >= ne {
        return None;
    }
    // What precedes the name: an optional quote, a separator, an optional quote, then the word
    // `name` or `key` (`key="…"`, `"name": "…"`, `- name: …`, `Name=…`).
    let mut i = ns;
    let quote = (i > ls && matches!(b[i - 1], b'"' | b'\'')).then(|| b[i - 1]);
    if quote.is_some() {
        i -= 1;
    }
    while i > ls && matches!(b[i - 1], b' ' | b'\t') {
        i -= 1;
    }
    if i == ls || !matches!(b[i - 1], b'=' | b':') {
        return None;
    }
    i -= 1;
    while i > ls && matches!(b[i - 1], b' ' | b'\t' | b'"' | b'\'') {
        i -= 1;
    }
    let we = i;
    while i > ls && b[i - 1].is_ascii_alphabetic() {
        i -= 1;
    }
    let word = text[i..we].to_ascii_lowercase();
    if !(word == "name" || word == "key") || (i > ls && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
        return None;
    }
    // The name must be the whole field: its closing quote (if any) right after it.
    let mut after = ne;
    if let Some(q) = quote {
        if b.get(ne) != Some(&q) {
            return None;
        }
        after += 1;
    }
    // Sibling on the same line (attributes, one-line objects) …
    let value = if let Some(vs) = value_field(text, after, le) {
        value_at(text, vs, le)
    } else if text[after..le].trim().trim_end_matches(',').is_empty() {
        // … or on one of the next two lines (YAML list items, pretty-printed JSON).
        let mut next = le + 1;
        let mut found = None;
        for _ in 0..2 {
            if next >= b.len() {
                break;
            }
            let (s2, e2) = super::line_bounds(text, next);
            let t = text[s2..e2].trim_start();
            let off = e2 - s2 - t.len();
            let lower = t.to_ascii_lowercase();
            if lower.starts_with("value") || lower.starts_with("\"value") || lower.starts_with("'value") {
                found = value_field(text, s2 + off, e2).and_then(|vs| value_at(text, vs, e2));
                break;
            }
            next = e2 + 1;
        }
        found
    } else {
        None
    }?;
    Some(Assignment {
        name: (ns, ne),
        value,
        quote: Quote::Quoted,
        line_leading: false,
        space_separated: false,
        define: false,
        tight_eq: false,
        call: false,
        pair: false,
    })
}

/// Does `v` occur elsewhere in the document as the value of an identifier field (`"id": "v"`,
/// `KeyId=v`, `--key-id v`, `"name": "v"`)? Then the document itself says it names an object
/// (an API key's id passed to `--api-key`, a key pair's name), not the secret material.
pub fn named_as_identifier(text: &str, v: &str, own: usize) -> bool {
    if v.len() < 8 {
        return false;
    }
    let b = text.as_bytes();
    for pos in memchr::memmem::find_iter(b, v.as_bytes()) {
        if pos == own {
            continue;
        }
        let (ls, _) = super::line_bounds(text, pos);
        let mut i = pos;
        while i > ls && matches!(b[i - 1], b' ' | b'\t' | b'"' | b'\'') {
            i -= 1;
        }
        let flag_form = i < pos && i > ls && b[i - 1].is_ascii_alphanumeric();
        if i > ls && matches!(b[i - 1], b'=' | b':') {
            i -= 1;
            while i > ls && matches!(b[i - 1], b' ' | b'\t' | b'"' | b'\'') {
                i -= 1;
            }
        } else if !flag_form {
            continue;
        }
        let we = i;
        while i > ls && name_byte(b[i - 1]) {
            i -= 1;
        }
        let name = &text[i..we];
        if flag_form && !name.starts_with("--") {
            continue;
        }
        let toks = name_tokens(name);
        if toks.last().is_some_and(|t| matches!(t.as_str(), "id" | "ids" | "identifier" | "name" | "arn" | "uid")) {
            return true;
        }
    }
    false
}

/// A filesystem path or URL path (`/etc/app/key.pem`, `./certs/`, `~/.ssh/id_rsa`), not key material.
pub fn looks_like_path(v: &str) -> bool {
    let rooted = v.starts_with('/') || v.starts_with("./") || v.starts_with("../") || v.starts_with("~/");
    let path_chars = v.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'~'));
    let has_ext = v.rsplit('/').next().is_some_and(|f| f.contains('.'));
    rooted && path_chars && (v.matches('/').count() >= 2 || has_ext)
}

/// File names (`release-2-0.zip`, `server.pem`) in key-named fields of object-store and deploy configs.
fn ends_with_file_extension(v: &str) -> bool {
    const EXT: &[&str] = &[
        "zip", "gz", "tgz", "tar", "bz2", "xz", "whl", "jar", "war", "exe", "dll", "so", "json", "yaml", "yml", "xml",
        "txt", "csv", "pem", "crt", "cer", "der", "key", "pub", "p12", "pfx", "jks", "png", "jpg", "gif", "svg", "pdf",
        "html", "js", "css", "py", "rb", "sh", "conf", "cfg", "ini", "log", "bin", "img", "iso", "deb", "rpm", "ova",
        "vmdk", "vhd", "vhdx", "qcow2", "parquet", "avro", "orc", "tsv", "md", "rst", "zst", "lz4", "7z",
    ];
    v.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && EXT.contains(&ext.to_ascii_lowercase().as_str()))
}

fn rest_of_line_blank(text: &str, pos: usize) -> bool {
    let (_, le) = super::line_bounds(text, pos);
    let rest = text[pos..le].trim();
    rest.is_empty() || rest.starts_with('#')
}

fn is_identifier_path(v: &str) -> bool {
    let mut parts = v.split('.');
    parts.all(|p| {
        let mut cs = p.chars();
        cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    })
}

/// Unquoted values that are code, not literals: references, keywords, numbers.
fn unquoted_is_code(v: &str) -> bool {
    if v.contains('(') || v.contains("->") || v.contains("::") {
        return true;
    }
    if is_identifier_path(v) && (v.contains('.') || !v.bytes().any(|c| c.is_ascii_digit())) {
        return true;
    }
    v.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'_'))
}

/// Strip an HTTP auth scheme from a header value.
fn strip_scheme(text: &str, vs: usize, ve: usize) -> usize {
    let v = &text[vs..ve];
    for scheme in ["Bearer ", "bearer ", "Token ", "token ", "Basic ", "Bot "] {
        if v.starts_with(scheme) {
            return vs + scheme.len();
        }
    }
    vs
}

/// Regular expressions, format strings and markup that sit in secret-named variables of scanners,
/// validators and docs (`secret = r'([a-z0-9]{64})'`, ``:class:`Flag` ``), and text made of XML/HTML
/// character references (`&#229;&#246;`).
fn looks_like_pattern_or_markup(v: &str) -> bool {
    ["(?", "\\", "[a-", "[A-", "[0-", "[^", "]{", "]+", "]*", "`", "{0,", "{1,", "&#", "&amp;", "&lt;", "&gt;", "&quot;"].iter().any(|p| v.contains(p))
        || v.starts_with(':')
}

/// A 12-15 character value in a secret-named field is still key material when it reads as drawn at
/// random: upper case, lower case and digits only, nearly every character distinct, and no word
/// structure (short API keys and app secrets). Shorter, or with a repeated or word-like shape, it is
/// more often a label, a version or an abbreviation.
fn short_random(v: &str) -> bool {
    let n = v.len();
    if !(12..16).contains(&n) || !v.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (lo, up, di, _) = classes(v);
    let mut seen = [false; 128];
    let distinct = v.bytes().filter(|&c| !std::mem::replace(&mut seen[c as usize], true)).count();
    lo && up && di && distinct + 2 >= n && !identifier_like(v) && !is_patterned(v)
}

pub fn key_value_ok(name: &str, v: &str) -> bool {
    let n = v.chars().count();
    if !(10..=512).contains(&n) || v.contains(char::is_whitespace) || is_placeholder(v) || is_uuid(v) || is_patterned(v) || contains_uuid(v) {
        return false;
    }
    // Base64 images and other data URIs are content, not credentials; so are ARNs, `$refs`,
    // `@scope/packages`, format strings and base64-encoded JSON (pagination tokens).
    if looks_like_pattern_or_markup(v)
        || v.starts_with(['-', '$', '@'])
        || v.starts_with("data:")
        || v.contains([':', '{', '}'])
        || (v.starts_with("eyJ") && !v.contains('.'))
    {
        return false;
    }
    if n < 16 && !short_random(v) {
        return false;
    }
    if super::validate::is_public_key_der(v) {
        return false;
    }
    if v.contains("...") || v.starts_with("__") || ends_with_file_extension(v) {
        return false;
    }
    // Names and paths in key-named fields: identifiers (`x86_cpu_index_1_edx`), config keys
    // (`s3.secret-access-key`), object-store keys of words (`datasets/x/part-0.parquet`) and
    // values published in documentation or build files.
    if identifier_like(v) || is_published_value(v) || path_of_names(v) {
        return false;
    }
    // A call or a dotted reference written as a string (`key="pkg.module.func()"`).
    if is_identifier_path(v.trim_end_matches("()")) && v.contains('.') {
        return false;
    }
    if v.matches('/').count() >= 2 && v.split('/').filter(|seg| seg.len() >= 3 && seg.bytes().all(|c| c.is_ascii_alphabetic())).count() >= 2 {
        return false;
    }
    // Paths and keys of object stores (`cloudformation/7870…`, `latest/{0}`).
    if v.contains('/') && v.split('/').any(|seg| seg.len() >= 5 && seg.bytes().all(|c| c.is_ascii_lowercase())) {
        return false;
    }
    if is_hex(v) && is_digest_length(n) && has_hash_context(name) {
        return false;
    }
    if v.bytes().all(|c| c.is_ascii_digit()) || v.contains("://") || looks_like_path(v) {
        return false;
    }
    if is_identifier_path(v) && (v.contains('.') || !v.bytes().any(|c| c.is_ascii_digit())) {
        return false;
    }
    // Prose joined by separators (change-this-to-a-long-random-string) is an instruction, not a key.
    if v.bytes().all(|c| c.is_ascii_lowercase() || matches!(c, b'-' | b'_' | b'.')) {
        return false;
    }
    // Something shaped like a JWT is judged as one (the jwt.io sample is a test vector).
    if v.starts_with("eyJ") && v.matches('.').count() == 2 && !super::validate::jwt_ok(v) {
        return false;
    }
    if looks_random(v) {
        return true;
    }
    let (lo, up, di, ot) = classes(v);
    let kinds = u8::from(lo) + u8::from(up) + u8::from(di) + u8::from(ot);
    di && kinds >= 3 && shannon_entropy(v) >= 3.0
}

pub fn password_value_ok(v: &str) -> bool {
    let n = v.chars().count();
    if !(4..=128).contains(&n) || v.contains(char::is_whitespace) || is_placeholder(v) {
        return false;
    }
    // Identifiers and counters, not chosen passwords: UUIDs, sequential or repeated runs.
    if is_uuid(v) || is_patterned(v) {
        return false;
    }
    if v.contains("://") || looks_like_path(v) || looks_like_pattern_or_markup(v) || v.starts_with("--") {
        return false;
    }
    // A rooted path of one segment (`` `pwd`:/data `` in a docker volume flag) is a path too.
    if v.starts_with('/') && v[1..].bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/')) {
        return false;
    }
    // Human-chosen passwords in the wild mix letters with digits or symbols; a bare word is far more
    // often a variable name, an enum value or a form label.
    let has_alpha = v.chars().any(char::is_alphabetic);
    let has_other = v.chars().any(|c| !c.is_alphabetic());
    if !has_other {
        return false;
    }
    if !has_alpha && n < 6 {
        return false;
    }
    // A dotted run of digits is a version (`'Test2::Event::Pass' => '1.302103'`), not a password.
    if !has_alpha && v.contains('.') && v.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return false;
    }
    if is_identifier_path(v) && v.contains('.') {
        return false;
    }
    // A multi-part identifier (`passwd_gecos`, `userPasswordField`) is a name, not a password.
    if (identifier_like(v) && !v.bytes().any(|c| c.is_ascii_digit())) || is_published_value(v) || path_of_names(v) {
        return false;
    }
    !(v.contains('_') && v.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

/// A `/`-separated path whose segments are names or file names (`arrow-datasets/x/part-0.parquet`).
fn path_of_names(v: &str) -> bool {
    let segs: Vec<&str> = v.split('/').filter(|s| !s.is_empty()).collect();
    segs.len() >= 2
        && segs.iter().all(|seg| {
            let stem = seg.rsplit_once('.').map_or(*seg, |(a, ext)| if ext.len() <= 8 && ext.bytes().all(|c| c.is_ascii_alphanumeric()) { a } else { seg });
            identifier_like(stem) || (stem.len() >= 2 && stem.bytes().all(|c| c.is_ascii_alphabetic()) && stem.bytes().any(|c| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')))
                || stem.bytes().all(|c| c.is_ascii_digit())
        })
}

/// Words that fill user fields in code and docs without naming anyone.
const NOT_USERNAMES: &[&str] = &[
    "current", "unknown", "none", "anonymous", "everyone", "any", "all", "self", "other", "new", "old", "name",
    "value", "string", "foo", "bar", "baz", "john", "jane", "johndoe", "janedoe", "nil", "null", "true", "false",
];

pub fn username_value_ok(v: &str) -> bool {
    let n = v.len();
    let lower = v.to_ascii_lowercase();
    if NOT_USERNAMES.contains(&lower.as_str()) || (lower.starts_with("0x") && lower[2..].bytes().all(|c| c.is_ascii_hexdigit())) {
        return false;
    }
    // UUIDs and SCREAMING_CASE constants fill user fields in code, not logins.
    if is_uuid(v) || (v.contains('_') && v.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    (2..=39).contains(&n)
        && v.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        && !v.bytes().all(|c| c.is_ascii_digit())
        && !is_generic_account(v)
        && !is_placeholder(v)
        && !v.to_ascii_lowercase().contains("user")
}

fn assignments_for(engine: &Engine, doc: &Doc<'_>, rule: usize, want: PiiType, out: &mut Vec<Cand>) {
    let mut last_name = usize::MAX;
    // Literal name/value argument pairs report under their own rule, so they can be measured and
    // switched off apart from assignments.
    let pair_rule = match want {
        PiiType::Key => Some("secret-call-pair"),
        PiiType::Password => Some("password-call-pair"),
        _ => None,
    };
    for (ks, ke) in doc.keyword_hits(engine, rule) {
        let Some(a) = parse_assignment(doc.text, (ks, ke)).or_else(|| name_value_pair(doc.text, (ks, ke))) else { continue };
        if a.name.0 == last_name {
            continue;
        }
        last_name = a.name.0;
        let name = &doc.text[a.name.0..a.name.1];
        if classify_name(name) != Some(want) {
            continue;
        }
        let emit_rule = match (a.pair, pair_rule) {
            (false, _) => rule,
            (true, Some(id)) => rule_index(id),
            (true, None) => continue,
        };
        let (mut vs, ve) = a.value;
        if a.space_separated && !a.line_leading {
            continue;
        }
        // Whitespace separates a name from its value only in `#define`/`set` lines and in
        // ssh_config (`User alice`); elsewhere it is prose ("Pass `safe=False` to …").
        if a.space_separated && !(a.define || want == PiiType::Username) {
            continue;
        }
        if a.space_separated && a.quote == Quote::None && want != PiiType::Username {
            continue;
        }
        if a.space_separated && a.quote == Quote::Quoted && doc.text.as_bytes()[a.value.0 - 1] == b'`' {
            continue;
        }
        // In program code a literal is quoted; an unquoted value is an expression. Config files,
        // and `NAME=value` lines (shell, .env) are the exception.
        // Connection strings and query strings (`…;Password=x;`, `?token=x&`) are literal too.
        // `.npmrc` auth lines (`//registry.npmjs.org/:_authToken=…`) are config too.
        let npmrc = a.tight_eq && a.name.0 > 0 && doc.text.as_bytes()[a.name.0 - 1] == b':' && doc.text[doc.line_bounds(a.name.0).0..].starts_with("//");
        let in_string = npmrc || (a.tight_eq && a.name.0 > 0 && matches!(doc.text.as_bytes()[a.name.0 - 1], b';' | b'"' | b'\'' | b'?' | b'&'));
        if a.quote == Quote::None && want != PiiType::Username && !(doc.config_like() || (a.tight_eq && a.line_leading) || in_string) {
            continue;
        }
        if want == PiiType::Key {
            vs = strip_scheme(doc.text, vs, ve);
        }
        let mut v = &doc.text[vs..ve];
        let mut ve = ve;
        if a.quote == Quote::None {
            let trimmed = v.trim_end_matches(['.', ':']);
            ve -= v.len() - trimmed.len();
            v = trimmed;
            // A bare word is a literal username in ssh_config (`User zokafor`) and in config files
            // (`user = lpereira`, `POSTGRES_USER: sgallagher`); in code it is a variable.
            let bare_ok = want == PiiType::Username
                && is_identifier_path(v)
                && !v.contains('.')
                && (a.space_separated || (a.line_leading && doc.config_like()));
            if unquoted_is_code(v) && !bare_ok {
                continue;
            }
            if a.space_separated && !rest_of_line_blank(doc.text, ve) {
                continue;
            }
            // `password = password`-style references.
            if v.eq_ignore_ascii_case(name) {
                continue;
            }
        }
        // Unquoted `k=v,k2=v2` lists (CLI filters, tags) are structure, not one value.
        if a.quote == Quote::None && want == PiiType::Key && v.trim_end_matches('=').contains([',', '=']) {
            continue;
        }
        let ok = match want {
            PiiType::Key => key_value_ok(name, v),
            PiiType::Password => password_value_ok(v),
            PiiType::Username => username_value_ok(v) && (a.quote == Quote::Quoted || a.line_leading),
            _ => false,
        };
        if ok {
            out.push(Cand { start: vs, end: ve, rule: emit_rule });
        }
    }
}

pub fn secret_assignment(engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    assignments_for(engine, doc, rule, PiiType::Key, out);
}

pub fn password_assignment(engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    assignments_for(engine, doc, rule, PiiType::Password, out);
}

pub fn username_assignment(engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    assignments_for(engine, doc, rule, PiiType::Username, out);
}

fn uri_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"\b[A-Za-z][A-Za-z0-9+.\-]{1,24}://([^\s:/@'"?#<>]{1,64}):([^\s'"<>]{1,128}?)@(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])"#)
            .expect("static regex")
    })
}

/// scheme://user:password@host — the password (PASSWORD) and the user (USERNAME, companion rule).
pub fn uri_credentials(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let user_rule = rule_index("uri-username");
    for caps in uri_re().captures_iter(doc.text) {
        let (Some(u), Some(p)) = (caps.get(1), caps.get(2)) else { continue };
        let pw = p.as_str();
        // `https://a.com:123,b.com:456@c` lists host:port pairs; the "password" is a port.
        let port = pw.bytes().take_while(u8::is_ascii_digit).count();
        if u.as_str().contains('.') && (1..=5).contains(&port) && pw.as_bytes().get(port).is_none_or(|c| matches!(c, b',' | b'/')) {
            continue;
        }
        // The userinfo slot is syntax, so length alone does not disqualify a password (`:pg@`,
        // `:J7@`); a short lower-case word (`user:pass@`, `:secret@`) is the usual placeholder.
        let lower_word = pw.bytes().all(|c| c.is_ascii_lowercase());
        let rejected = pw.len() < 2 || is_placeholder(pw) || super::validate::is_template(pw) || (lower_word && pw.len() < 8);
        if !rejected {
            out.push(Cand { start: p.start(), end: p.end(), rule });
        }
        let user = u.as_str();
        if username_value_ok(user) {
            out.push(Cand { start: u.start(), end: u.end(), rule: user_rule });
        }
    }
}

fn cli_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:^|\s)(?:--password(?:=|\s+)|--pass(?:=|\s+)|-p\s*|-a\s+)(?:'([^'\n]{3,128})'|"([^"\n]{3,128})"|([^\s'"]{3,128}))"#)
            .expect("static regex")
    })
}

fn cli_user_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"(?:^|\s)(?:-u\s*|--user(?:=|\s+))['"]?([A-Za-z0-9_.\-]{2,39})['"]?(?:\s|$)"#).expect("static regex"))
}

fn curl_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:^|\s)(?:-u|--user)\s+['"]?([A-Za-z0-9_.\-]{2,39}):([^\s'"@]{3,128})['"]?(?:\s|$)"#).expect("static regex")
    })
}

/// mysql -p'…' / --password=… / sshpass -p … / redis-cli -a … / curl -u user:password.
pub fn cli_password(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    for caps in cli_re().captures_iter(text) {
        let Some(m) = caps.get(1).or_else(|| caps.get(2)).or_else(|| caps.get(3)) else { continue };
        let whole = caps.get(0).map_or("", |w| w.as_str()).trim_start();
        let (ls, le) = super::line_bounds(text, m.start());
        let line = text[ls..le].to_ascii_lowercase();
        let short = whole.starts_with("-p") || whole.starts_with("-a");
        let tool_ok = if whole.starts_with("-a") {
            line.contains("redis-cli")
        } else if short {
            line.contains("mysql") || line.contains("mariadb") || line.contains("sshpass")
        } else {
            true
        };
        let v = m.as_str();
        if tool_ok && password_value_ok(v) && !v.starts_with('-') {
            out.push(Cand { start: m.start(), end: m.end(), rule });
        }
    }
    let user_rule = rule_index("uri-username");
    let cli_user_rule = rule_index("cli-username");
    for caps in cli_user_re().captures_iter(text) {
        let Some(u) = caps.get(1) else { continue };
        let (ls, le) = super::line_bounds(text, u.start());
        let line = text[ls..le].to_ascii_lowercase();
        if (line.contains("mysql") || line.contains("mariadb") || line.contains("psql")) && username_value_ok(u.as_str()) {
            out.push(Cand { start: u.start(), end: u.end(), rule: cli_user_rule });
        }
    }
    for caps in curl_re().captures_iter(text) {
        let (Some(u), Some(p)) = (caps.get(1), caps.get(2)) else { continue };
        if password_value_ok(p.as_str()) {
            out.push(Cand { start: p.start(), end: p.end(), rule });
            if username_value_ok(u.as_str()) {
                out.push(Cand { start: u.start(), end: u.end(), rule: user_rule });
            }
        }
    }
}

/// `Basic <b64>` decodes to printable `user:password` with a real password (not a placeholder).
pub fn basic_auth_ok(doc: &Doc<'_>, s: usize, e: usize) -> bool {
    let Some(raw) = super::validate::base64_decode(&doc.text[s..e]) else { return false };
    let Ok(plain) = String::from_utf8(raw) else { return false };
    let Some((user, pw)) = plain.split_once(':') else { return false };
    !user.is_empty() && plain.chars().all(|c| !c.is_control()) && password_value_ok(pw)
}

fn header_flag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)(?:^|[\s'"({,])((?:--|-H\s*["']?)?(?:x-)?(?:[a-z0-9]+-)*(?:api-?key|api_key|auth-token|access-token|private-token|x-auth-token|secret|access-key|secret-key|token))(?:\s*[:=]\s*|\s+)["']?([A-Za-z0-9._~+/=\-]{10,512})"#)
            .expect("static regex")
    })
}

/// Header lines and command-line flags named for a credential: `X-API-Key: …`, `Private-Token: …`
/// (curl -H, HTTP files, nginx/proxy configs) and `--api-key …`, `--token=…` (CLIs).
pub fn header_or_flag_credential(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    for caps in header_flag_re().captures_iter(text) {
        let (Some(n), Some(v)) = (caps.get(1), caps.get(2)) else { continue };
        let name = n.as_str();
        let flag = name.starts_with("--");
        let header = name.contains('-') && !flag;
        if !(flag || header) {
            continue;
        }
        let bare = name.trim_start_matches("--").trim_start_matches(['-', 'H', 'h', ' ', '"', '\'']);
        if classify_name(bare) != Some(PiiType::Key) {
            continue;
        }
        let b = text.as_bytes();
        if b.get(v.end()).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'(' | b'[' | b'{' | b'$')) {
            continue;
        }
        // `delete-api-key --api-key X`, `update-api-key --api-key X`: a flag that repeats the resource
        // noun of its subcommand names the object the command acts on (its id), not a credential.
        if flag && subcommand_names_resource(text, n.start(), bare) {
            continue;
        }
        if key_value_ok(bare, v.as_str()) {
            out.push(Cand { start: v.start(), end: v.end(), rule });
        }
    }
}

/// Does a word before `flag_start` on its line end with `-<noun>` (`get-api-key` for `--api-key`)?
fn subcommand_names_resource(text: &str, flag_start: usize, noun: &str) -> bool {
    let (ls, _) = super::line_bounds(text, flag_start);
    let noun = noun.to_ascii_lowercase();
    text[ls..flag_start].split_whitespace().any(|w| {
        let w = w.to_ascii_lowercase();
        !w.starts_with('-') && w.len() > noun.len() + 1 && w.ends_with(noun.as_str()) && w.as_bytes()[w.len() - noun.len() - 1] == b'-'
    })
}

fn call_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:(?:\.login|\bHTTP(?:Basic|Digest)Auth|\bBasicAuth|\.auth|\bgetConnection)\(\s*(?:[^,()\n]+,\s*)?|\bauth\s*=\s*\(\s*)[^,()\n]+?\s*,\s*(?:'([^'\n]{1,128})'|"([^"\n]{1,128})")"#)
            .expect("static regex")
    })
}

/// smtp.login(user, 'pw'), HTTPBasicAuth('u', 'pw'), auth=('u', 'pw'), getConnection(url, "u", "pw").
pub fn call_password(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    for caps in call_re().captures_iter(doc.text) {
        let Some(m) = caps.get(1).or_else(|| caps.get(2)) else { continue };
        if password_value_ok(m.as_str()) {
            out.push(Cand { start: m.start(), end: m.end(), rule });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(name_tokens("spring.datasource.password"), ["spring", "datasource", "password"]);
        assert_eq!(name_tokens("webhookSecret"), ["webhook", "secret"]);
        assert_eq!(name_tokens("AWS_SECRET_ACCESS_KEY"), ["aws", "secret", "access", "key"]);
        assert_eq!(name_tokens("X-Api-Key"), ["x", "api", "key"]);
    }

    #[test]
    fn classify() {
        assert_eq!(classify_name("POSTGRES_PASSWORD"), Some(PiiType::Password));
        assert_eq!(classify_name("JWT_SECRET"), Some(PiiType::Key));
        assert_eq!(classify_name("apiKey"), Some(PiiType::Key));
        assert_eq!(classify_name("password_hash"), None);
        assert_eq!(classify_name("public_key"), None);
        assert_eq!(classify_name("token_url"), None);
        assert_eq!(classify_name("keyboard"), None);
        assert_eq!(classify_name("spring.datasource.username"), Some(PiiType::Username));
        assert_eq!(classify_name("user_name"), Some(PiiType::Username));
        assert_eq!(classify_name("USER_AGENT"), None);
        assert_eq!(classify_name("S3Key"), None);
        assert_eq!(classify_name("result_key"), None);
        assert_eq!(classify_name("AWS_S3_SECRET_KEY"), Some(PiiType::Key));
        assert_eq!(classify_name("ChangeToken"), None);
        assert_eq!(classify_name("VerificationToken"), None);
        assert_eq!(classify_name("change_password"), Some(PiiType::Password));
    }

    #[test]
    fn parse_forms() {
        let cases = [
            ("PASSWORD = 'x1y2z3'", "x1y2z3"),
            ("\"password\": \"p@ss99\",", "p@ss99"),
            ("#define WIFI_PASSWORD \"abc-123\"", "abc-123"),
            ("SMTP_PASSWORD=sun!flower3", "sun!flower3"),
            ("<password>h4ck3r!</password>", "h4ck3r!"),
            ("db.setPassword(\"s3cr3t!\");", "s3cr3t!"),
        ];
        for (text, want) in cases {
            let kw = text.to_ascii_lowercase().find("pass").unwrap();
            let a = parse_assignment(text, (kw, kw + 4)).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(&text[a.value.0..a.value.1], want, "{text}");
        }
        assert!(parse_assignment("if password == 'x'", (3, 7)).is_none());
    }

    #[test]
    fn literal_argument_pairs() {
        let kw = |t: &str, w: &str| {
            let s = t.find(w).unwrap();
            parse_assignment(t, (s, s + w.len()))
        };
        for (text, w, want) in [
            ("os.Setenv(\"API_KEY\", \"v4lue\")", "KEY", "v4lue"),
            ("config.set('default', 'aws_secret_access_key', 'v4lue')", "secret", "v4lue"),
            ("{\"api_key\", \"v4lue\"}", "key", "v4lue"),
            ("setenv(\"TOKEN\", \"v4lue\", 1);", "TOKEN", "v4lue"),
        ] {
            let a = kw(text, w).unwrap_or_else(|| panic!("{text}"));
            assert!(a.pair, "{text}");
            assert_eq!(&text[a.value.0..a.value.1], want, "{text}");
        }
        for text in [
            "getenv(\"API_KEY\")",
            "setProperty(\"password\", passwordVar)",
            "(\"password\", \"v4lue\")",
            "f(\"API_KEY\", \"v4lue\" + suffix)",
            "{\"api_key\", \"v4lue\", \"more\"}",
            "f(x, \"API_KEY\", \"v4lue\")",
        ] {
            let w = if text.contains("pass") { "password" } else { "KEY" };
            let w = if text.contains(w) { w } else { "key" };
            assert!(kw(text, w).is_none_or(|a| !a.pair || a.quote == Quote::None), "{text}");
        }
    }

    #[test]
    fn env_accessors_are_paths() {
        assert_eq!(classify_name("process.env.API_TOKEN"), Some(PiiType::Key));
        assert_eq!(classify_name("import.meta.env.VITE_DB_PASSWORD"), Some(PiiType::Password));
        assert_eq!(classify_name("API_KEY_ENV"), None);
        assert_eq!(classify_name("process.env.TOKEN_URL"), None);
    }

    #[test]
    fn value_judgements() {
        assert!(password_value_ok("Welc0me$154"));
        assert!(!password_value_ok("********"));
        assert!(!password_value_ok("<your-password>"));
        assert!(!password_value_ok("password"));
        assert!(key_value_ok("API_KEY", "d7c3b3f5865d028fdcf33b24b1fc9195385e42c81593a0cde34961a91c478224"));
        assert!(!key_value_ok("checksum_sha", "d7c3b3f5865d028fdcf33b24b1fc9195385e42c81593a0cde34961a91c478224"));
        assert!(!key_value_ok("API_KEY", "YOUR_API_KEY"));
        assert!(!key_value_ok("key", "f13bc09d-0a89-4595-9749-772945fd2c1d"));
        // DER SubjectPublicKeyInfo (P-256, RSA) is public; a PKCS#8 private key is not.
        assert!(!key_value_ok("key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8mXq2Lr9TbV4Zp0kY7"));
        assert!(!key_value_ok("key", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3xR7q"));
        assert!(key_value_ok("key", "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9fK"));
        assert!(!password_value_ok("1.302103"));
    }
}
