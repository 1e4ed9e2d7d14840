//! Visible-text length of an HTML document, for StarCoder's HTML filter.
//!
//! StarCoder kept an HTML file only if its visible text (BeautifulSoup's text after removing
//! `<script>` and `<style>`) is more than 20% of the file and more than 100 characters. Here the
//! visible text is the concatenation of the text outside markup, comments, declarations,
//! processing instructions and `script`/`style` contents, with each character reference counted as
//! one character and every whitespace run collapsed to one space, leading and trailing whitespace
//! dropped (`" ".join(text.split())` in Python). A linear scanner, not a DOM: the measure is a
//! ratio, and a scanner never fails on the malformed HTML that is common in crawled code.

use super::{non_ascii_class, ASCII_CLASS, C_SPACE};

fn is_space(c: char) -> bool {
    if c.is_ascii() {
        ASCII_CLASS[c as usize] & C_SPACE != 0
    } else {
        non_ascii_class(c) & C_SPACE != 0
    }
}

fn starts_with_ci(hay: &[u8], at: usize, needle: &[u8]) -> bool {
    hay.len() >= at + needle.len() && hay[at..at + needle.len()].eq_ignore_ascii_case(needle)
}

/// Find the end (index after `>`) of a tag starting at `<`, honouring quoted attribute values.
fn tag_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return i + 1,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Length of a character reference (`&amp;`, `&#39;`, `&#x27;`) starting at `i`, if one is there.
fn char_ref_len(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < b.len() && b[j] == b'#' {
        j += 1;
    }
    let name_start = j;
    while j < b.len() && j - name_start < 32 && b[j].is_ascii_alphanumeric() {
        j += 1;
    }
    (j > name_start && j < b.len() && b[j] == b';').then_some(j + 1 - i)
}

/// Number of visible characters of `html` (see the module documentation for the definition).
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
pub fn visible_text_chars(html: &str) -> u64 {
    let b = html.as_bytes();
    let mut count = 0u64;
    let mut pending_space = false;
    let mut seen_text = false;
    let mut i = 0;
    let mut emit = |is_ws: bool, count: &mut u64| {
        if is_ws {
            pending_space = seen_text;
        } else {
            if pending_space {
                *count += 1;
                pending_space = false;
            }
            *count += 1;
            seen_text = true;
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == b'<' && i + 1 < b.len() {
            let n = b[i + 1];
            if starts_with_ci(b, i, b"<!--") {
                i = memchr::memmem::find(&b[i + 4..], b"-->").map_or(b.len(), |p| i + 4 + p + 3);
                continue;
            }
            if n == b'!' || n == b'?' {
                i = memchr::memchr(b'>', &b[i..]).map_or(b.len(), |p| i + p + 1);
                continue;
            }
            if n.is_ascii_alphabetic() || (n == b'/' && i + 2 < b.len() && b[i + 2].is_ascii_alphabetic()) {
                let end = tag_end(b, i);
                let raw = [&b"script"[..], &b"style"[..]].into_iter().find(|name| {
                    starts_with_ci(b, i + 1, name)
                        && b.get(i + 1 + name.len()).is_none_or(|&d| d == b'>' || d == b'/' || d.is_ascii_whitespace())
                });
                i = end;
                if let Some(name) = raw {
                    // Raw-text element: skip to its end tag.
                    let mut j = i;
                    loop {
                        match memchr::memchr(b'<', &b[j..]) {
                            None => {
                                j = b.len();
                                break;
                            }
                            Some(p) => {
                                j += p;
                                if b.get(j + 1) == Some(&b'/') && starts_with_ci(b, j + 2, name) {
                                    j = tag_end(b, j);
                                    break;
                                }
                                j += 1;
                            }
                        }
                    }
                    i = j;
                }
                continue;
            }
        }
        if c == b'&' {
            if let Some(len) = char_ref_len(b, i) {
                emit(false, &mut count);
                i += len;
                continue;
            }
        }
        if c < 0x80 {
            emit(ASCII_CLASS[c as usize] & C_SPACE != 0, &mut count);
            i += 1;
        } else {
            let ch = html[i..].chars().next().unwrap_or('\u{FFFD}');
            emit(is_space(ch), &mut count);
            i += ch.len_utf8();
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::visible_text_chars as v;

    #[test]
    fn markup_and_raw_text_are_invisible() {
        assert_eq!(v("<p>Hello <b>world</b></p>"), 11);
        assert_eq!(v("<script>var x = '<p>no</p>';</script>ab<STYLE>p{}</style>"), 2);
        assert_eq!(v("<!-- hidden -->a<!DOCTYPE html><?php x ?>b"), 2);
        assert_eq!(v("<a title='x>y'>t</a>"), 1);
    }

    #[test]
    fn whitespace_collapses_and_entities_count_once() {
        assert_eq!(v("  a \n\n  b  "), 3);
        assert_eq!(v("a&amp;b &#39;"), 5);
        assert_eq!(v("1 < 2"), 5);
        assert_eq!(v(""), 0);
        assert_eq!(v("<script>never closed"), 0);
    }
}
