//! Whitespace normalisation and window enumeration shared by building and querying.
//!
//! Every Unicode `White_Space` character is removed, so a snippet matches its source whatever was
//! done to its indentation, line breaks or spacing around operators. Windows are counted in Unicode
//! code points of the normalised text (Python `str` indices), not bytes.

use xxhash_rust::xxh3::xxh3_64;

/// Name of this normalisation, recorded in the index header.
pub const NORMALISATION: &str = "remove-unicode-white-space-v1";

/// Seed of the window fingerprint (XXH3-64 of the window's UTF-8 bytes), recorded in the header.
/// Zero: xxhash-rust's seeded XXH3 is several times slower on 50-byte inputs than the default.
pub const FINGERPRINT_SEED: u64 = 0;

#[inline]
pub(crate) fn is_ascii_ws(b: u8) -> bool {
    // The ASCII members of White_Space: TAB, LF, VT, FF, CR, SPACE (0x1C..0x1F are not White_Space).
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// Text with its whitespace removed, plus what is needed to cut it into code-point windows and to
/// map positions back to the original text.
pub struct Normalised {
    /// UTF-8 bytes of the normalised text.
    pub bytes: Vec<u8>,
    /// Byte offset of every code point plus the final length; empty when the text is ASCII.
    starts: Vec<u32>,
    /// Code-point index in the original text of every normalised code point (only when requested).
    pub orig: Vec<u32>,
}

impl Normalised {
    /// Normalise `text`; `with_orig` also records each kept code point's original position.
    pub fn new(text: &str, with_orig: bool) -> Self {
        let mut bytes = Vec::with_capacity(text.len());
        let mut orig = Vec::new();
        if text.is_ascii() {
            // Branch-free compaction: write every byte, advance only past kept ones.
            let src = text.as_bytes();
            bytes.resize(src.len(), 0);
            let mut j = 0;
            if with_orig {
                orig.resize(src.len(), 0);
                for (i, &b) in src.iter().enumerate() {
                    bytes[j] = b;
                    orig[j] = i as u32;
                    j += usize::from(!is_ascii_ws(b));
                }
                orig.truncate(j);
            } else {
                for &b in src {
                    bytes[j] = b;
                    j += usize::from(!is_ascii_ws(b));
                }
            }
            bytes.truncate(j);
            return Normalised { bytes, starts: Vec::new(), orig };
        }
        let mut starts = Vec::new();
        for (i, c) in text.chars().enumerate() {
            if c.is_whitespace() {
                continue;
            }
            starts.push(bytes.len() as u32);
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            if with_orig {
                orig.push(i as u32);
            }
        }
        if starts.len() == bytes.len() {
            starts.clear(); // every kept character is ASCII
        } else {
            starts.push(bytes.len() as u32);
        }
        Normalised { bytes, starts, orig }
    }

    /// Number of code points.
    pub fn chars(&self) -> usize {
        if self.starts.is_empty() {
            self.bytes.len()
        } else {
            self.starts.len() - 1
        }
    }

    /// The `window`-code-point window starting at code point `i` (caller keeps `i + window <= chars()`).
    #[inline]
    pub fn window(&self, i: usize, window: usize) -> &[u8] {
        if self.starts.is_empty() {
            &self.bytes[i..i + window]
        } else {
            &self.bytes[self.starts[i] as usize..self.starts[i + window] as usize]
        }
    }

    /// Fingerprint of the window at `i`.
    #[inline]
    pub fn fingerprint(&self, i: usize, window: usize) -> u64 {
        xxh3_64(self.window(i, window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_all_white_space_and_maps_back() {
        let n = Normalised::new("a b\n\tc\u{a0}d\u{3000}é  f", true);
        assert_eq!(std::str::from_utf8(&n.bytes).unwrap(), "abcdéf");
        assert_eq!(n.chars(), 6);
        assert_eq!(n.orig, vec![0, 2, 5, 7, 9, 12]);
        assert_eq!(n.window(3, 2), "dé".as_bytes());
    }

    #[test]
    fn file_separators_are_not_white_space() {
        let n = Normalised::new("a\u{1c}b", false);
        assert_eq!(n.chars(), 3);
    }
}
