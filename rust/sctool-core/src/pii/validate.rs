//! Validators and code-aware false-positive filters shared by the rules.
//!
//! Regexes find candidates; these functions decide. They encode what a value must look like to be a
//! real secret (entropy, checksum, decodable structure) and what the common look-alikes in source
//! code are (content hashes, UUIDs, placeholders, documented example keys, test vectors).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Shannon entropy of the characters of `s`, in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut other: std::collections::HashMap<char, u32> = std::collections::HashMap::new();
    let mut n = 0u32;
    for c in s.chars() {
        n += 1;
        if (c as u32) < 256 {
            counts[c as usize] += 1;
        } else {
            *other.entry(c).or_insert(0) += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let nf = f64::from(n);
    counts
        .iter()
        .copied()
        .chain(other.values().copied())
        .filter(|&c| c > 0)
        .map(|c| {
            let p = f64::from(c) / nf;
            -p * p.log2()
        })
        .sum()
}

/// CRC-32 (IEEE 802.3, the zlib polynomial), bitwise; only used on short token bodies.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62 encoding of `v`, left-padded with '0' to `width` characters.
pub fn base62(mut v: u32, width: usize) -> String {
    let mut out = Vec::new();
    while v > 0 {
        out.push(BASE62[(v % 62) as usize]);
        v /= 62;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// GitHub's 2021 token format: `<prefix>_` + 30 random base62 characters + the CRC32 of those 30
/// characters in base62 (6 characters). A bad checksum means the string is not an issued token.
pub fn github_checksum_ok(token: &str) -> bool {
    let Some((_, body)) = token.split_once('_') else {
        return false;
    };
    if body.len() != 36 || !body.is_ascii() {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62(crc32(random.as_bytes()), 6) == check
}

/// Decode unpadded or padded base64url / base64 (both alphabets accepted).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0u32;
    for &b in s.trim_end_matches('=').as_bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Base64 of a DER SubjectPublicKeyInfo (`MFkwEwYHKoZIzj0CAQYI…`, `MIIBIjANBgkqhkiG9w0BAQEF…`): a
/// public key, published by design (package-manager signing keys, TLS pins), never a secret. The
/// structure says so: a SEQUENCE whose first member is the algorithm SEQUENCE starting with an OID,
/// where private keys (PKCS#1, PKCS#8) start with an INTEGER version instead.
pub fn is_public_key_der(v: &str) -> bool {
    if v.len() < 40 {
        return false;
    }
    let Some(b) = base64_decode(&v[..24]) else { return false };
    let hdr = match b.get(1) {
        Some(&n) if n < 0x80 => 2,
        Some(0x81) => 3,
        Some(0x82) => 4,
        _ => return false,
    };
    b.first() == Some(&0x30) && b.get(hdr) == Some(&0x30) && b.get(hdr + 1).is_some_and(|&n| n < 0x80) && b.get(hdr + 2) == Some(&0x06)
}

/// A JWT is three base64url parts whose header decodes to a JSON object naming an algorithm.
/// The jwt.io documentation sample (subject "1234567890", name "John Doe") is a test vector.
pub fn jwt_ok(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some(header) = base64_decode(h) else { return false };
    let header = String::from_utf8_lossy(&header);
    if !header.trim_start().starts_with('{') || !header.contains("\"alg\"") {
        return false;
    }
    let payload = base64_decode(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("\"sub\":\"1234567890\"") && compact.contains("\"name\":\"JohnDoe\"") {
        return false;
    }
    sig.len() >= 16
}

/// Placeholder words that mark a value as a template, an example or a redaction.
const PLACEHOLDER_WORDS: &[&str] = &[
    "your", "example", "sample", "dummy", "placeholder", "changeme", "change_me", "change-me", "insert",
    "replace", "redacted", "xxxx", "todo", "fixme", "foobar", "...", "…", "mytest", "testsecret", "testpass", "testkey", "notreal", "not_a_real", "fake", "mock",
    "secret_here", "token_here", "key_here", "change-this", "change_this", "changethis", "process.env",
    "os.environ", "getenv", "env(", "environ[", "secrets.", "vault:", "(none)", "undefined",
];

/// Whole values that are never secrets.
const PLACEHOLDER_VALUES: &[&str] = &[
    "password", "passwd", "pass", "secret", "token", "key", "apikey", "api_key", "none", "null", "nil",
    "true", "false", "yes", "no", "on", "off", "admin", "root", "test", "testing", "default", "empty",
    "string", "str", "required", "optional", "hidden", "masked", "value", "abc123", "123456", "12345678",
    "qwerty", "letmein", "secret123", "password123", "password1", "pa55word", "s3cret", "hunter2",
];

/// True when `v` is a template, an environment lookup, a masked value or a documented example.
pub fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_VALUES.contains(&lower.as_str()) {
        return true;
    }
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) || lower.contains("password") || lower.contains("passwd") {
        return true;
    }
    // Templates: <your-password>, $DB_PASS, {token}.
    if (v.starts_with('<') && v.ends_with('>')) || (v.starts_with('{') && v.ends_with('}')) {
        return true;
    }
    if is_template(v) {
        return true;
    }
    // Documented example keys (AWS: AKIAIOSFODNN7EXAMPLE and its secret end in EXAMPLE/EXAMPLEKEY).
    if v.contains("EXAMPLE") {
        return true;
    }
    // Masks such as ******** or ........ or a run of one repeated character.
    let mut chars = v.chars();
    if let Some(first) = chars.next() {
        if v.chars().all(|c| c == first) {
            return true;
        }
    }
    if v.chars().filter(|c| matches!(c, '*' | '•' | '.' | '-' | '_' | '#')).count() * 2 >= v.chars().count() {
        return true;
    }
    false
}

fn ident_run(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-' | b' ')) {
        i += 1;
    }
    i
}

/// Template or variable syntax: `${VAR}`, `${{ secrets.X }}`, `{{ var }}`, `%(name)s`, `$(cmd)`,
/// `#{var}`, a whole-value `$VAR`, or `%s`/`{}` format slots in a short value.
pub fn is_template(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() > 1 && b[0] == b'$' && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') && (b[1].is_ascii_alphabetic() || b[1] == b'_') {
        return true;
    }
    for i in 0..b.len().saturating_sub(1) {
        let (c, d) = (b[i], b[i + 1]);
        let close = match (c, d) {
            (b'$' | b'#' | b'{', b'{') => b'}',
            (b'$' | b'%', b'(') => b')',
            _ => continue,
        };
        let mut j = i + 2;
        while j < b.len() && matches!(b[j], b'{' | b' ') {
            j += 1;
        }
        let k = ident_run(b, j);
        if k > j && k < b.len() && b[k] == close {
            return true;
        }
    }
    b.len() <= 24 && (v.contains("%s") || v.contains("{}"))
}

/// A value whose characters march up or down (abcdef, 123456, 000102030405…) or come in doubled
/// pairs (00112233…): test vectors and keyboard walks rather than random output.
pub fn is_patterned(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 8 {
        return false;
    }
    let n = b.len() - 1;
    let steps = b.windows(2).filter(|w| w[1].wrapping_sub(w[0]) == 1 || w[0].wrapping_sub(w[1]) == 1).count();
    let equal = b.windows(2).filter(|w| w[0] == w[1]).count();
    // Hex byte counters: 00 01 02 … (every other character is '0').
    let zeros_even = b.iter().step_by(2).filter(|&&c| c == b'0').count();
    if steps * 2 >= n || equal * 3 >= n || zeros_even * 4 >= b.len().div_ceil(2) * 3 {
        return true;
    }
    // Counting walks written by hand (`a1b2c3d4567890ab`, `a123b45c6d78e9f0`): most characters are
    // followed, one or two places on, by their successor. Random strings of 12+ characters stay
    // far below (hex: under 0.55 in 20,000 draws; base62: under 0.4).
    if b.len() >= 12 {
        let succ = (0..n).filter(|&i| b[i + 1] == b[i].wrapping_add(1) || b.get(i + 2) == Some(&b[i].wrapping_add(1))).count();
        if succ * 5 >= n * 3 {
            return true;
        }
    }
    // Interleaved walks (`a1b2c3d4e5f6g7h8`): each half counts up on its own.
    let half = |start: usize| {
        let h: Vec<u8> = b.iter().skip(start).step_by(2).copied().collect();
        h.len() >= 4 && h.windows(2).filter(|w| w[1].wrapping_sub(w[0]) == 1).count() * 4 >= (h.len() - 1) * 3
    };
    half(0) && half(1)
}

/// Does `v` contain a UUID's first four groups (`8-4-4-4-` hex)? Object keys and resource names embed
/// one (`signed-2065c468-73e2-…`); random key material never has that layout.
pub fn contains_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    let group = |s: usize, n: usize| s + n <= b.len() && b[s..s + n].iter().all(u8::is_ascii_hexdigit);
    (0..b.len()).any(|s| {
        (s == 0 || !b[s - 1].is_ascii_hexdigit())
            && group(s, 8)
            && b.get(s + 8) == Some(&b'-')
            && group(s + 9, 4)
            && b.get(s + 13) == Some(&b'-')
            && group(s + 14, 4)
            && b.get(s + 18) == Some(&b'-')
            && group(s + 19, 4)
    })
}

/// Canonical UUID (8-4-4-4-12 hex).
pub fn is_uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && [8usize, 4, 4, 4, 12].iter().zip(&parts).all(|(&n, p)| p.len() == n && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

pub fn is_hex(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Lengths of common digests in hex: MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512 (and short SHAs).
pub fn is_digest_length(n: usize) -> bool {
    matches!(n, 7..=12 | 32 | 40 | 56 | 64 | 96 | 128)
}

/// Words on a line that mark hex/base64 values as content hashes rather than secrets.
const HASH_CONTEXT: &[&str] = &[
    "sha", "md5", "hash", "digest", "checksum", "integrity", "commit", "rev", "etag", "fingerprint", "blake",
    "crc", "build", "version", "uuid", "guid", "nonce", "salt", "avatar", "hexdigest", "fromhex", "unhexlify",
    "expected", "assert", "vector",
];

pub fn has_hash_context(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    HASH_CONTEXT.iter().any(|w| lower.contains(w))
}

/// Character classes present in `v`: (lower, upper, digit, other).
pub fn classes(v: &str) -> (bool, bool, bool, bool) {
    let mut r = (false, false, false, false);
    for c in v.chars() {
        if c.is_ascii_lowercase() {
            r.0 = true;
        } else if c.is_ascii_uppercase() {
            r.1 = true;
        } else if c.is_ascii_digit() {
            r.2 = true;
        } else {
            r.3 = true;
        }
    }
    r
}

/// Does `v` look like machine-generated secret material (as opposed to a word, a path or a name)?
/// Hex needs 16+ characters; other alphabets 16+ characters, two or more character classes and
/// enough entropy for their length.
pub fn looks_random(v: &str) -> bool {
    let n = v.chars().count();
    if n < 16 || is_placeholder(v) || is_patterned(v) || is_uuid(v) {
        return false;
    }
    if v.contains(' ') || v.starts_with('/') || v.starts_with("./") || v.contains("://") {
        return false;
    }
    let ent = shannon_entropy(v);
    if is_hex(v) {
        return ent >= 3.0;
    }
    let (lo, up, di, ot) = classes(v);
    let kinds = u8::from(lo) + u8::from(up) + u8::from(di) + u8::from(ot);
    if kinds < 2 {
        return false;
    }
    // Identifiers such as snake_case or dotted.module.names are words, not keys. Letters in both
    // cases are judged by their camelCase parts (random mixed case is not a name).
    if !di
        && if lo && up && v.bytes().all(|c| c.is_ascii_alphabetic()) {
            identifier_like(v)
        } else {
            v.split(['_', '.', '-']).all(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic()))
        }
    {
        return false;
    }
    ent >= 3.3
}

/// Public DNS resolvers StarCoder left unredacted (Google, Cloudflare, Control D, Quad9, OpenDNS,
/// Comodo, AdGuard, Level3) plus their IPv6 addresses.
const DNS_V4: &[[u8; 4]] = &[
    [8, 8, 8, 8], [8, 8, 4, 4], [1, 1, 1, 1], [1, 0, 0, 1], [76, 76, 19, 19], [76, 223, 122, 150], [9, 9, 9, 9],
    [149, 112, 112, 112], [208, 67, 222, 222], [208, 67, 220, 220], [8, 26, 56, 26], [8, 20, 247, 20],
    [94, 140, 14, 14], [94, 140, 15, 15], [4, 2, 2, 1], [4, 2, 2, 2], [64, 6, 64, 6], [64, 6, 65, 6],
    [1, 1, 1, 2], [1, 0, 0, 2], [9, 9, 9, 10], [149, 112, 112, 10], [185, 228, 168, 9], [76, 76, 2, 0],
];
const DNS_V6: &[&str] = &["2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001", "2620:fe::fe", "2620:fe::9", "2620:119:35::35", "2620:119:53::53"];

fn in_v4(a: u32, net: [u8; 4], prefix: u32) -> bool {
    let n = u32::from(Ipv4Addr::from(net));
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    a & mask == n & mask
}

/// Globally routable per Python's `ipaddress.is_global` (3.11), minus multicast, and not a resolver.
pub fn ipv4_is_reportable(ip: Ipv4Addr) -> bool {
    const NON_GLOBAL: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8), ([10, 0, 0, 0], 8), ([100, 64, 0, 0], 10), ([127, 0, 0, 0], 8), ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12), ([192, 0, 0, 0], 29), ([192, 0, 0, 170], 31), ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16), ([198, 18, 0, 0], 15), ([198, 51, 100, 0], 24), ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4), ([240, 0, 0, 0], 4),
        // IANA special-purpose blocks outside `is_global`'s list: 6to4 relay anycast, AS112 and
        // direct-delegation AS112 service, AMT.
        ([192, 88, 99, 0], 24), ([192, 31, 196, 0], 24), ([192, 175, 48, 0], 24), ([192, 52, 193, 0], 24),
    ];
    let a = u32::from(ip);
    if NON_GLOBAL.iter().any(|&(net, p)| in_v4(a, net, p)) {
        return false;
    }
    !DNS_V4.contains(&ip.octets())
}

/// Global unicast (2000::/3) outside IETF protocol assignments (2001::/23) and documentation
/// (2001:db8::/32), and not a public resolver.
pub fn ipv6_is_reportable(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s[0] & 0xE000 != 0x2000 {
        return false;
    }
    if s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8) {
        return false;
    }
    // 6to4 (2002::/16) embeds an IPv4 address; 3fff::/20 is the second documentation block.
    if s[0] == 0x2002 || (s[0] == 0x3FFF && s[1] < 0x1000) {
        return false;
    }
    !DNS_V6.iter().any(|d| d.parse::<Ipv6Addr>().is_ok_and(|x| x == ip))
}

/// Conventional placeholder addresses of tutorials and tests: every octet equal (`5.5.5.5`), a
/// counting sequence (`1.2.3.4`, `4.3.2.1`) or a digit walk (`123.45.67.89`, `12.34.56.78`).
pub fn ipv4_is_placeholder(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    if o.iter().all(|&x| x == o[0]) {
        return true;
    }
    let up = o.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
    let down = o.windows(2).all(|w| w[0] == w[1].wrapping_add(1));
    if up || down {
        return true;
    }
    let digits: String = o.iter().map(u8::to_string).collect();
    let walk = digits.as_bytes().windows(2).all(|w| w[1] == w[0] + 1 || (w[0] == b'9' && w[1] == b'0'));
    let pairs = o.iter().all(|&x| x >= 11 && x % 11 == 0) && o.windows(2).all(|w| w[1] > w[0]);
    walk || pairs
}

/// Values published in vendor documentation, RFC/KAT test vectors or open-source build files (the
/// OpenSSL FIPS module integrity key, Stripe's documentation test keys): known to everyone, so they
/// are not secrets. Stored as xxh3 hashes so this file holds none of them.
const PUBLISHED_VALUES: &[u64] = &[0x1f35_1693_e875_f997, 0xce55_5596_716c_94ba, 0x095a_acf0_2a5c_bebb, 0xfb0d_96e8_8b66_d5b4];

pub fn is_published_value(v: &str) -> bool {
    PUBLISHED_VALUES.contains(&xxhash_rust::xxh3::xxh3_64(v.as_bytes()))
}

/// Is `v` shaped like a name written by a person — a snake_case, kebab-case, dotted, camelCase or
/// punctuated run of two or more word-like parts (`x86_cpu_index_1_edx`, `s3.secret-access-key`,
/// `actionsDreamedT0`, `special_(double)_rewards`, `datasets/year=2019/part-0.parquet`)? Random key material splits into fragments that mix letters and digits
/// (`b3k`, `lm9qx`), so it never passes.
pub fn identifier_like(v: &str) -> bool {
    if v.is_empty() || !v.is_ascii() {
        return false;
    }
    let toks = super::assign::name_tokens(v);
    if toks.len() < 2 {
        return false;
    }
    // Words, not fragments: random mixed-case text splits at every case change into runs of one or
    // two letters (`wv`, `h9`, `Jg`); a name has at most half its parts that short (`x86_cpu_index_1_edx`).
    let short = toks.iter().filter(|t| t.bytes().take_while(u8::is_ascii_alphabetic).count() <= 2).count();
    if short * 2 > toks.len() {
        return false;
    }
    let mut letters_total = 0usize;
    for t in &toks {
        let b = t.as_bytes();
        let alpha = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let rest = &b[alpha..];
        if !rest.iter().all(u8::is_ascii_digit) || rest.len() > 4 {
            return false;
        }
        if alpha == 0 {
            continue;
        }
        // A letter run is a word or an abbreviation: a vowel, or at most four letters (cpu, edx, rng).
        let word = &t[..alpha];
        if alpha > 4 && !word.bytes().any(|c| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')) {
            return false;
        }
        letters_total += alpha;
    }
    letters_total * 2 >= v.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn github_checksum_roundtrip() {
        let body = "abcdefghijABCDEFGHIJ0123456789";
        let tok = format!("ghp_{body}{}", base62(crc32(body.as_bytes()), 6));
        assert!(github_checksum_ok(&tok));
        let bad = format!("ghp_{body}000000");
        assert!(!github_checksum_ok(&bad));
    }

    #[test]
    fn entropy_bounds() {
        assert!(shannon_entropy("aaaa") < 1e-9);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn patterns_and_placeholders() {
        assert!(is_patterned("000102030405060708090a0b0c0d0e0f"));
        assert!(is_patterned("00112233445566778899aabbccddeeff"));
        assert!(is_patterned("abcdefghijklmnop"));
        assert!(!is_patterned("9fK2xQ7LmP3vR8tZ"));
        assert!(is_patterned("a1b2c3d4e5f6g7h8"));
        assert!(is_placeholder("YOUR_API_KEY"));
        assert!(is_placeholder("********"));
        assert!(is_placeholder("${DB_PASSWORD}"));
        assert!(is_placeholder("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_placeholder("Welc0me$154"));
    }

    #[test]
    fn ip_scopes() {
        let p = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(ipv4_is_reportable(p("136.172.114.170")));
        for s in ["10.0.0.1", "127.0.0.1", "0.0.0.0", "169.254.169.254", "192.0.2.1", "8.8.8.8", "172.20.0.1", "100.64.3.3"] {
            assert!(!ipv4_is_reportable(p(s)), "{s}");
        }
        let q = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert!(ipv6_is_reportable(q("2a03:2880:f12f:83:face:b00c::25de")));
        for s in ["::1", "fe80::1", "fc00::1", "2001:db8::1", "2001:4860:4860::8888", "::"] {
            assert!(!ipv6_is_reportable(q(s)), "{s}");
        }
    }

    #[test]
    fn identifiers_and_published_values() {
        for v in ["x86_cpu_index_1_edx", "s3.secret-access-key", "SPECIAL_REWARDS_KEY", "actionsDreamedT0", "part-0.parquet", "special_(double)_rewards", "a-ds/nyc-taxi/year=2019/part-0.parquet"] {
            assert!(identifier_like(v), "{v}");
        }
        for v in ["aB3kLm9QxZ2w", "Xy_9aB3kLm-Qx7", "d7c3b3f5865d028f", "sunflower3", "gho_wvH9JgOmPzGhZYXxZvrIlasviua2CnuMnDXS", "AKCjJSaDVfvVcIrip"] {
            assert!(!identifier_like(v), "{v}");
        }
        for v in ["Ec2SubnetIds", "Ipv6CidrAssociations", "ServerlessV2PlatformVersions", "getHTTPResponseCode"] {
            assert!(identifier_like(v), "{v}");
        }
        assert!(contains_uuid("signed-2065c468-73e2-4385-a6c9-0123456789abc"));
        assert!(!contains_uuid("sNvjQDMReA1eEQPNAW8r37XsU2rDD7fc7m2SiMnu"));
        // Hand-written counting walks are placeholders; random strings are not.
        assert!(is_patterned("a1b2c3d4567890ab"));
        assert!(is_patterned("a123b45c6d78e9f012a34cd5e6a7890b"));
        assert!(!is_patterned("3f4ca100e2fc675ea123f4eb12c4a012"));
        assert!(looks_random("AKCjJSaDVfvVcIrip"));
        assert!(!looks_random("getUserNameFromDatabase"));
        let fips: String = ["f4556650ac31d354", "61610bac4ed81b1a", "181b2d8a43ea2854", "cbae22ca74560813"].concat();
        assert!(is_published_value(&fips));
        let p = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        for s in ["1.2.3.4", "5.5.5.5", "123.45.67.89", "12.34.56.78", "11.22.33.44", "4.3.2.1"] {
            assert!(ipv4_is_placeholder(p(s)), "{s}");
        }
        assert!(!ipv4_is_placeholder(p("136.172.114.170")));
    }

    #[test]
    fn jwt_structure() {
        assert!(!jwt_ok("abc.def.ghi"));
        assert!(jwt_ok("eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjQyfQ.c2lnbmF0dXJlc2lnbmF0dXJl"));
    }
}
