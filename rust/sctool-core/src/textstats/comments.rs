//! Comment characters of a source file, for SantaCoder's comment-ratio filter (off by default).
//!
//! SantaCoder (Allal et al. 2023) kept files whose comment-to-code character ratio lies strictly
//! between 0.01 and 0.8, using Python's tokenizer plus `ast` docstrings for Python and pygments for
//! other languages. This is a lexer-level approximation in one pass: it knows each family's
//! line and block comment delimiters and its string literals (so a `#` or `//` inside a string is
//! not a comment), and for the `#` family counts a triple-quoted string that opens a logical line
//! as a docstring. Delimiters count as comment characters.

/// Comment syntax of a language family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `#` line comments; `'''`/`"""` docstrings (Python, shell, Ruby, R, YAML, …).
    Hash,
    /// `//` and `/* */` (C, C++, Java, JS, Go, Rust, C#, …).
    CLike,
    /// `--` line comments and `/* */` blocks (SQL).
    DashDash,
    /// `<!-- -->` (HTML, XML).
    Markup,
}

impl Syntax {
    pub fn from_code(code: u8) -> Option<Syntax> {
        match code {
            1 => Some(Syntax::Hash),
            2 => Some(Syntax::CLike),
            3 => Some(Syntax::DashDash),
            4 => Some(Syntax::Markup),
            _ => None,
        }
    }
}

fn count_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| (x & 0xC0) != 0x80).count() as u64
}

/// Number of characters inside comments (and, for [`Syntax::Hash`], docstrings) of `text`.
// Byte scanners read best with the usual short names (b: bytes, i: index, c: byte).
#[allow(clippy::many_single_char_names)]
pub fn comment_chars(text: &str, syntax: Syntax) -> u64 {
    let b = text.as_bytes();
    let n = b.len();
    let mut total = 0u64;
    let mut i = 0;
    let mut line_start = true; // only whitespace since the last newline
    while i < n {
        let c = b[i];
        let rest = &b[i..];
        // Comments.
        let line_comment = match syntax {
            Syntax::Hash => c == b'#',
            Syntax::CLike => rest.starts_with(b"//"),
            Syntax::DashDash => rest.starts_with(b"--"),
            Syntax::Markup => false,
        };
        if line_comment {
            let end = memchr::memchr(b'\n', rest).map_or(n, |p| i + p);
            total += count_chars(&b[i..end]);
            i = end;
            continue;
        }
        let block = match syntax {
            Syntax::CLike | Syntax::DashDash if rest.starts_with(b"/*") => Some((2, &b"*/"[..])),
            Syntax::Markup if rest.starts_with(b"<!--") => Some((4, &b"-->"[..])),
            _ => None,
        };
        if let Some((open, close)) = block {
            let end = memchr::memmem::find(&b[i + open..], close).map_or(n, |p| i + open + p + close.len());
            total += count_chars(&b[i..end]);
            i = end;
            continue;
        }
        // String literals (skipped, except Python-style docstrings).
        let is_quote = match syntax {
            Syntax::Hash | Syntax::CLike | Syntax::DashDash => c == b'"' || c == b'\'',
            Syntax::Markup => false,
        } || (syntax == Syntax::CLike && c == b'`');
        if is_quote {
            let triple = syntax == Syntax::Hash && rest.len() >= 3 && rest[1] == c && rest[2] == c;
            let end = if triple {
                let close = [c, c, c];
                memchr::memmem::find(&b[i + 3..], &close).map_or(n, |p| i + 3 + p + 3)
            } else {
                let mut j = i + 1;
                while j < n && b[j] != c && !(b[j] == b'\n' && c != b'`') {
                    j += if b[j] == b'\\' && syntax != Syntax::DashDash { 2 } else { 1 };
                }
                (j + 1).min(n)
            };
            if triple && line_start {
                total += count_chars(&b[i..end]);
            }
            i = end;
            line_start = false;
            continue;
        }
        if c == b'\n' {
            line_start = true;
        } else if !(c == b' ' || c == b'\t' || c == b'\r') {
            line_start = false;
        }
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_family_comments_and_docstrings() {
        let src = "def f():\n    \"\"\"Doc.\"\"\"\n    x = '#no'  # yes\n";
        assert_eq!(comment_chars(src, Syntax::Hash), 10 + 5);
        // a triple-quoted string used as a value is not a docstring
        assert_eq!(comment_chars("x = \"\"\"v\"\"\"\n", Syntax::Hash), 0);
    }

    #[test]
    fn c_family() {
        let src = "int a; // c1\n/* b */ char *s = \"// no\";\n";
        assert_eq!(comment_chars(src, Syntax::CLike), 5 + 7);
        assert_eq!(comment_chars("/* unterminated", Syntax::CLike), 15);
    }

    #[test]
    fn sql_and_markup() {
        assert_eq!(comment_chars("select 1; -- hi\n", Syntax::DashDash), 5);
        assert_eq!(comment_chars("<a><!-- x --></a>", Syntax::Markup), 10);
    }
}
