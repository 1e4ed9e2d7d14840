//! Redaction: a pure function of (text, spans, types to redact, seed).
//!
//! Tags replace values (`<EMAIL>`, `<KEY>`, `<PASSWORD>`, `<NAME>`, `<USERNAME>`); IP addresses are
//! replaced by a synthetic address of the same family (10.0.0.0/8 for IPv4, fd00::/8 for IPv6) drawn
//! from a seeded hash of the value, so the same address always gets the same replacement, in any
//! document, shard or thread order — never a counter (the round-robin anti-pattern).

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{engine, to_char_spans, PiiSpan, PiiType};
use crate::error::Result;

/// Which types to replace, and the seed of the synthetic IPs.
#[derive(Clone, Copy, Debug)]
pub struct RedactOptions {
    /// Bit set of [`PiiType::bit`].
    pub types: u8,
    pub seed: u64,
}

impl Default for RedactOptions {
    fn default() -> Self {
        let types = [PiiType::Email, PiiType::IpAddress, PiiType::Key, PiiType::Password, PiiType::Name]
            .iter()
            .fold(0u8, |m, t| m | t.bit());
        RedactOptions { types, seed: 0 }
    }
}

/// The replacement of one value.
pub fn replacement(kind: PiiType, value: &str, seed: u64) -> String {
    match kind {
        PiiType::Email => "<EMAIL>".into(),
        PiiType::Key => "<KEY>".into(),
        PiiType::Password => "<PASSWORD>".into(),
        PiiType::Name => "<NAME>".into(),
        PiiType::Username => "<USERNAME>".into(),
        PiiType::IpAddress => synthetic_ip(value, seed),
    }
}

/// A private address of the value's family, chosen by a seeded hash of the value.
pub fn synthetic_ip(value: &str, seed: u64) -> String {
    let h = xxh3_64_with_seed(value.as_bytes(), seed);
    if value.contains(':') {
        let h2 = xxh3_64_with_seed(value.as_bytes(), seed ^ 0x9E37_79B9_7F4A_7C15);
        let g = |x: u64, i: u32| (x >> (16 * i)) & 0xFFFF;
        format!(
            "fd{:02x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            h & 0xFF,
            g(h, 1),
            g(h, 2),
            g(h, 3),
            g(h2, 0),
            g(h2, 1),
            g(h2, 2),
            g(h2, 3)
        )
    } else {
        format!("10.{}.{}.{}", (h >> 8) & 0xFF, (h >> 16) & 0xFF, 1 + (h >> 24) % 254)
    }
}

/// Replace the spans (code-point offsets, sorted, non-overlapping) whose type is in `opts.types`.
pub fn redact(text: &str, spans: &[PiiSpan], opts: RedactOptions) -> String {
    let mut out = String::with_capacity(text.len());
    let offsets: Vec<usize> = if text.is_ascii() {
        Vec::new()
    } else {
        text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect()
    };
    let to_byte = |cp: usize| -> usize {
        if offsets.is_empty() {
            cp.min(text.len())
        } else {
            offsets.get(cp).copied().unwrap_or(text.len())
        }
    };
    let mut last = 0usize;
    for s in spans {
        if opts.types & s.kind.bit() == 0 {
            continue;
        }
        let bs = to_byte(s.start);
        let be = to_byte(s.end);
        if bs < last || be < bs {
            continue;
        }
        out.push_str(&text[last..bs]);
        out.push_str(&replacement(s.kind, &text[bs..be], opts.seed));
        last = be;
    }
    out.push_str(&text[last..]);
    out
}

/// Detect and redact a batch: per document, its spans and (unless `annotate_only`) the redacted text.
pub fn detect_and_redact_batch(
    texts: &[Option<&str>],
    opts: RedactOptions,
    annotate_only: bool,
) -> Result<Vec<(Vec<PiiSpan>, Option<String>)>> {
    let eng = engine()?;
    Ok(texts
        .par_iter()
        .with_min_len(8)
        .map(|t| match t {
            None => (Vec::new(), None),
            Some(t) => {
                let spans = to_char_spans(t, &eng.detect_bytes(t));
                let red = if annotate_only { None } else { Some(redact(t, &spans, opts)) };
                (spans, red)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ip_is_deterministic_and_same_family() {
        let a = synthetic_ip("136.172.114.170", 7);
        assert_eq!(a, synthetic_ip("136.172.114.170", 7));
        assert!(a.starts_with("10."));
        assert!(a.parse::<std::net::Ipv4Addr>().is_ok());
        let b = synthetic_ip("2a03:2880::1", 7);
        assert!(b.parse::<std::net::Ipv6Addr>().is_ok(), "{b}");
        assert!(b.starts_with("fd"));
        assert_ne!(synthetic_ip("136.172.114.170", 8), a);
    }

    #[test]
    fn redacts_by_code_points() {
        let text = "é mail: ab.cd@orchardline.co, ip 136.172.114.170";
        let spans = super::super::detect(text).unwrap();
        let out = redact(text, &spans, RedactOptions::default());
        assert!(out.starts_with("é mail: <EMAIL>, ip 10."), "{out}");
        let none = redact(text, &spans, RedactOptions { types: 0, seed: 0 });
        assert_eq!(none, text);
    }
}
