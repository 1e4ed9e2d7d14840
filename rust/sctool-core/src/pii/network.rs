//! E-mail and IP addresses, with the look-alikes code is full of filtered out.
//!
//! IPs are validated by parsing (`std::net`) and by scope, mirroring Python's `ipaddress.is_global`
//! (what StarCoder's pipeline used) minus multicast and the public DNS resolvers. Dotted version
//! strings (`FW_VERSION "9.3.30.31"`) are syntactically valid IPv4, so a version-like name in front of
//! the value, a leading `v` or more dotted components rule them out.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;

use super::assign::name_tokens;
use super::validate::{ipv4_is_placeholder, ipv4_is_reportable, ipv6_is_reportable};
use super::{Cand, Doc, Engine};

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9\-]{1,59})\b")
            .expect("static regex")
    })
}

/// Top-level "domains" that are really file extensions (logo@2x.png, icon@3x.webp).
const FILE_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "css", "js", "mjs", "cjs", "ts",
    "tsx", "jsx", "json", "map", "html", "htm", "xml", "txt", "md", "py", "rb", "go", "rs", "java", "kt", "swift",
    "cpp", "hpp", "so", "dll", "exe", "zip", "gz", "tar", "lock", "yml", "yaml", "toml", "ini", "cfg", "woff",
    "woff2", "ttf", "otf", "eot", "mp4", "mp3", "wav", "ogg", "pdf", "vue", "scss", "less", "sh", "bat", "jar", "whl",
];

/// Domains reserved for documentation or testing, and local-only names.
fn placeholder_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    if matches!(tld, "test" | "invalid" | "localhost" | "local" | "localdomain" | "example" | "internal" | "lan" | "home" | "corp") {
        return true;
    }
    if labels.iter().any(|l| matches!(*l, "example" | "localhost" | "localdomain")) {
        return true;
    }
    let base = if labels.len() >= 2 { labels[labels.len() - 2] } else { "" };
    matches!(
        base,
        "domain" | "yourdomain" | "mydomain" | "yourcompany" | "company" | "somewhere" | "foo" | "bar" | "baz"
            | "sample" | "dummy" | "fake" | "test" | "email" | "acme"
    )
}

/// Local parts that are roles, robots or placeholders rather than a person.
fn placeholder_local(local: &str) -> bool {
    let l = local.to_ascii_lowercase();
    if l.contains("noreply") || l.contains("no-reply") || l.contains("donotreply") || l.contains("do-not-reply") {
        return true;
    }
    matches!(
        l.as_str(),
        "git" | "user" | "username" | "name" | "email" | "your.name" | "yourname" | "your.email" | "you" | "me"
            | "someone" | "somebody" | "nobody" | "foo" | "bar" | "test" | "example" | "john.doe" | "jane.doe"
            | "johndoe" | "janedoe" | "first.last" | "firstname.lastname" | "notifications" | "mailer-daemon"
            | "postmaster"
    ) || l.starts_with("your")
}

/// Is the e-mail at [s, e) a real address (not a placeholder, robot, remote or asset)?
pub fn email_ok(text: &str, s: usize, e: usize) -> bool {
    let v = &text[s..e];
    let Some((local, domain)) = v.split_once('@') else { return false };
    if local.starts_with('.') || local.ends_with('.') || local.is_empty() {
        return false;
    }
    let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    if FILE_TLDS.contains(&tld.as_str()) || local.ends_with("2x") || local.ends_with("3x") {
        return false;
    }
    if placeholder_domain(domain) || placeholder_local(local) || domain.ends_with("users.noreply.github.com") {
        return false;
    }
    let b = text.as_bytes();
    // scheme://user:password@host — the URI rules own this.
    if s > 0 && b[s - 1] == b':' {
        let (ls, _) = super::line_bounds(text, s);
        if text[ls..s].rfind("://").is_some() {
            return false;
        }
    }
    // Part of a longer token (a URL path segment, a package spec).
    if s > 0 && matches!(b[s - 1], b'/' | b'@' | b'=' ) && text[..s].ends_with("//") {
        return false;
    }
    true
}

pub fn email(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    for m in email_re().find_iter(doc.text) {
        let (mut s, e) = (m.start(), m.end());
        while s < e && matches!(doc.text.as_bytes()[s], b'.' | b'-' | b'%' | b'+') {
            s += 1;
        }
        if email_ok(doc.text, s, e) {
            out.push(Cand { start: s, end: e, rule });
        }
    }
}

fn ipv4_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}").expect("static regex"))
}

const VERSION_WORDS: &[&str] = &["version", "ver", "v", "release", "build", "firmware", "fw", "revision", "rev", "tag", "semver", "sdk", "api_version"];

/// Does the text just before the match (same line) name a version?
fn version_context(text: &str, s: usize) -> bool {
    let (ls, _) = super::line_bounds(text, s);
    let from = s.saturating_sub(48).max(ls);
    let mut from = from;
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = &text[from..s];
    let toks = name_tokens(window);
    if toks.iter().any(|t| VERSION_WORDS.contains(&t.as_str())) {
        return true;
    }
    let w = window.trim_end_matches(['"', '\'', ' ']);
    w.ends_with("==") || w.ends_with(">=") || w.ends_with("<=") || w.ends_with("~=") || w.ends_with('^') || w.ends_with('~')
}

const NETWORK_WORDS: &[&str] = &[
    "ip", "host", "addr", "address", "server", "proxy", "connect", "url", "http", "https", "dns", "gateway", "route",
    "allow", "deny", "listen", "bind", "upstream", "remote", "endpoint", "subnet", "net", "ping", "ssh", "nameserver",
    "inet", "peer", "client", "node", "origin", "src", "dst", "source", "target", "whitelist", "allowlist", "blocklist",
];

/// A network word (`host`, `ip`, `server`, `ssh`, a URL scheme) within `radius` bytes of the match.
fn network_context(text: &str, s: usize, e: usize, radius: usize, strong: bool) -> bool {
    let (ls, le) = super::line_bounds(text, s);
    let mut from = s.saturating_sub(radius).max(ls);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut to = (e + radius).min(le);
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let window = &text[from..to];
    // A URL counts when the number is its host (`http://52.1.2.3/`), not when it is elsewhere on the
    // line (a reST target `` .. _`3.2.2.10`: http://… ``).
    let in_url = text[ls..s]
        .rsplit(char::is_whitespace)
        .next()
        .and_then(|w| w.find("://").map(|i| &w[i + 3..]))
        .is_some_and(|after| !after.contains(['/', '#', '?']));
    if in_url || window.contains('@') {
        return true;
    }
    let words = if strong { STRONG_NETWORK_WORDS } else { NETWORK_WORDS };
    // Words inside a URL elsewhere on the line (`openid-connect-core`) describe that URL.
    let window: String = window.split_whitespace().filter(|w| !w.contains("://")).collect::<Vec<_>>().join(" ");
    name_tokens(&window)
        .iter()
        .any(|t| words.contains(&t.as_str()) || t.strip_suffix('s').is_some_and(|u| words.contains(&u)))
}

/// Words that name an address outright (a section title may say `endpoint` or `client`).
const STRONG_NETWORK_WORDS: &[&str] = &[
    "ip", "ipv4", "host", "hostname", "addr", "address", "server", "proxy", "dns", "gateway", "subnet", "nameserver",
    "inet", "ping", "ssh", "listen", "bind", "upstream", "remote", "raddr", "laddr", "peer", "connect", "socket",
];

/// A dotted number that opens a comment line and is followed by a title is a section heading
/// (`/* 3.8.2.2. Video Control …`, ` * 5.3.1.2 SCTP_PEER_ADDR_CHANGE`).
fn section_heading(text: &str, s: usize, e: usize) -> bool {
    let (ls, le) = super::line_bounds(text, s);
    let head = text[ls..s].trim_start_matches([' ', '\t', '/', '*', '#', '-', ';', '!', '%']);
    if !head.is_empty() {
        return false;
    }
    let rest = text[e..le].trim_start_matches('.');
    let rest_t = rest.trim_start();
    rest_t.len() < rest.len() && rest_t.chars().next().is_some_and(char::is_alphabetic)
}

/// Words that make a dotted number a document reference (`section 9.4.2.251`, `RFC 4291 2.5.5.2`).
const SECTION_WORDS: &[&str] = &[
    "section", "sect", "sec", "chapter", "clause", "spec", "rfc", "para", "table", "figure", "fig", "annex", "appendix",
    "std", "standard", "ieee", "itu", "iso", "draft", "errata", "paragraph", "oid", "oids", "asn", "arc", "mib", "snmp",
];

/// Dotted numbers that are not host addresses: section and standard numbers (`// 23.3.4.5 modifiers`,
/// `[22.2.1.2]`, `802.11-2016 9.4.2.168`), OIDs (`"2.5.29.52"`, `GNUTLS_OID_… "2.5.4.42"`) and
/// version-shaped numbers (`Guile 3.0.5.130`, `v 1.10.6.1`). A network word near the value keeps it.
fn not_an_address(text: &str, s: usize, e: usize, ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let (ls, le) = super::line_bounds(text, s);
    let b = text.as_bytes();
    let small_parts = o.iter().all(|&x| x < 64);
    if small_parts && section_heading(text, s, e) {
        return true;
    }
    // Small numbers need a word that names an address; others any network word.
    let near = network_context(text, s, e, 64, small_parts);
    let small = o.iter().filter(|&&x| x < 10).count();
    let bracketed = (s > ls && b[s - 1] == b'[') || (e < le && b[e] == b']') || (e < le && b[e] == b')' && s > ls && b[s - 1] == b'(');
    if bracketed && o.iter().all(|&x| x < 32) {
        return true;
    }
    let line = &text[ls..le];
    let toks = name_tokens(line);
    let section_word = |t: &String| SECTION_WORDS.contains(&t.as_str()) || t.starts_with("oid") || t.ends_with("oid");
    if toks.iter().any(section_word) && !line.contains("://") {
        return true;
    }
    // `ObjectIdentifier("2.5.4.9")`, `object_identifier = …`: an OID whatever else the line says.
    if toks.windows(2).any(|w| w[0] == "object" && w[1] == "identifier") {
        return true;
    }
    // `Section 7.3.5.3`, `RFC 4291 2.5.5.2`: the word right before the number decides, URL or not.
    let mut from = s.saturating_sub(16).max(ls);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    if name_tokens(&text[from..s]).iter().any(section_word) {
        return true;
    }
    // OID arcs start 0, 1 or 2 with a second arc below 40: only an address next to a network word.
    if o[0] <= 2 && o[1] < 40 && !near {
        return true;
    }
    // Two or more single-digit parts read as a version or a section, unless it is plainly an address.
    if small >= 2 && !near {
        return true;
    }
    o.iter().all(|&x| x < 32) && !near
}

/// `/8`, `/24`, `/128` directly after an address (a prefix length, not a URL path).
fn cidr_suffix(b: &[u8], e: usize) -> bool {
    if b.get(e) != Some(&b'/') {
        return false;
    }
    // An IPv6 netmask (`/::ffff:ffff:…`) or a dotted IPv4 netmask (`/255.255.255.0`) also names a network.
    if b.get(e + 1) == Some(&b':') {
        return true;
    }
    let mask_len = b[e + 1..].iter().take_while(|c| c.is_ascii_digit() || **c == b'.').count();
    if std::str::from_utf8(&b[e + 1..e + 1 + mask_len]).ok().and_then(|m| m.parse::<Ipv4Addr>().ok()).is_some_and(|m| {
        let v = u32::from(m);
        v != 0 && v.leading_ones() + v.trailing_zeros() == 32
    }) {
        return true;
    }
    let digits = b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=3).contains(&digits) && b.get(e + 1 + digits).is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'.' && *c != b'/')
}

pub fn ipv4(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let b = text.as_bytes();
    for m in ipv4_re().find_iter(text) {
        let (s, e) = (m.start(), m.end());
        if s > 0 {
            let p = b[s - 1];
            if p.is_ascii_alphanumeric() || p == b'_' || p == b'-' {
                continue;
            }
            if p == b'.' && s > 1 && b[s - 2].is_ascii_digit() {
                continue;
            }
        }
        if e < b.len() {
            let n = b[e];
            if n.is_ascii_alphanumeric() || n == b'_' {
                continue;
            }
            if n == b'.' && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
                continue;
            }
        }
        let v = &text[s..e];
        if v.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
            continue;
        }
        let Ok(ip) = v.parse::<Ipv4Addr>() else { continue };
        if text[e..].starts_with(".in-addr") {
            continue;
        }
        // CIDR notation names a network, not a host: allow-lists and range tables are not PII; so does
        // a network address (host part zero: `172.32.0.0`, `11.0.0.0`).
        if cidr_suffix(b, e) || ip.octets()[3] == 0 {
            continue;
        }
        if !ipv4_is_reportable(ip) || ipv4_is_placeholder(ip) || version_context(text, s) || not_an_address(text, s, e, ip) {
            continue;
        }
        out.push(Cand { start: s, end: e, rule });
    }
}

fn ipv6_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*").expect("static regex"))
}

pub fn ipv6(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let b = text.as_bytes();
    for m in ipv6_re().find_iter(text) {
        let (s, mut e) = (m.start(), m.end());
        while e > s && matches!(b[e - 1], b'.') {
            e -= 1;
        }
        // A trailing ":port" on a bracketless address is ambiguous; only a lone ':' is trimmed.
        if e > s + 1 && b[e - 1] == b':' && b[e - 2] != b':' {
            e -= 1;
        }
        let v = &text[s..e];
        if v.len() < 6 || (!v.contains("::") && v.bytes().filter(|&c| c == b':').count() != 7) {
            continue;
        }
        if s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'_' | b':' | b'.')) {
            continue;
        }
        if e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
            continue;
        }
        let Ok(ip) = v.parse::<Ipv6Addr>() else { continue };
        // A prefix (`2001:658:22a:cafe::`, interface id zero) names a network; an address glued to a
        // domain or an operator (`3ffe::1.net`, `3ffe::+0`) is a malformed test string, not an address.
        if cidr_suffix(b, e) || v.ends_with("::") {
            continue;
        }
        if b.get(e).is_some_and(|&c| c == b'+') || (b.get(e) == Some(&b'.') && b.get(e + 1).is_some_and(u8::is_ascii_alphabetic)) {
            continue;
        }
        if ipv6_is_reportable(ip) {
            out.push(Cand { start: s, end: e, rule });
        }
    }
}
