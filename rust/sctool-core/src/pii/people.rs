//! Names and usernames. Names are found only where code states authorship (author/copyright lines,
//! Signed-off-by trailers, package metadata, a name next to an e-mail or a handle): a capitalised
//! word pair anywhere else is far more often a class, a product or an algorithm (Fisher-Yates).
//! Only multi-word names are reported, as StarCoder did.

use std::sync::OnceLock;

use regex::Regex;

use super::network::email_ok;
use super::rules::rule_index;
use super::{Cand, Doc, Engine};

/// System and service accounts: not personal data.
const GENERIC_ACCOUNTS: &[&str] = &[
    "root", "admin", "administrator", "postgres", "postgresql", "mysql", "ubuntu", "ec2-user", "centos", "debian",
    "fedora", "pi", "git", "www-data", "nobody", "daemon", "guest", "user", "users", "test", "tester", "demo",
    "default", "sa", "oracle", "redis", "mongo", "mongodb", "elastic", "jenkins", "deploy", "deployer", "docker",
    "vagrant", "travis", "runner", "app", "apps", "service", "system", "sys", "operator", "web", "ftp", "anonymous",
    "dev", "developer", "staff", "support", "info", "bot", "ci", "build", "backup", "rabbitmq", "kafka", "hadoop",
    "spark", "nginx", "apache", "httpd", "node", "www", "alice", "bob", "me", "you", "someone", "example",
    "username", "login", "owner", "master", "main", "sysadmin", "superuser", "dbadmin", "dbuser", "db", "sonar",
    "gitlab", "github", "azureuser", "opc", "core", "bitnami", "hduser", "minio", "keycloak", "grafana",
];

pub fn is_generic_account(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    GENERIC_ACCOUNTS.contains(&l.as_str()) || is_version_tag(&l)
}

/// `TODO(macos)`, `FIXME(msrv)`, `TODO(ICU-20406)`, `NOTE(gh-12139)`: a platform, a topic or a ticket
/// in the parentheses, not a person.
pub fn is_todo_topic(v: &str) -> bool {
    const TOPICS: &[&str] = &[
        "macos", "linux", "windows", "win32", "redox", "solarish", "solaris", "pthread", "ulibc", "uclibc", "musl",
        "wasm", "wasi", "android", "ios", "freebsd", "netbsd", "openbsd", "dragonfly", "illumos", "haiku", "emscripten",
        "msrv", "exhaustive", "compiler", "perf", "performance", "security", "cleanup", "refactor", "deprecated",
        "deprecation", "api", "abi", "breaking", "semver", "unsafe", "safety", "docs", "doc", "test", "tests", "ci",
        "upstream", "bug", "hack", "later", "someday", "future", "v2", "v3", "typing", "types", "mypy", "lint",
    ];
    let l = v.to_ascii_lowercase();
    if TOPICS.contains(&l.as_str()) {
        return true;
    }
    // Ticket ids: ICU-20406, gh-12139, JIRA-12, b/123.
    l.rsplit_once('-').is_some_and(|(a, n)| !a.is_empty() && a.bytes().all(|c| c.is_ascii_alphabetic()) && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// `TODO(py311)`, `TODO(pytest10)`, `v2.1`: version tags, not people.
fn is_version_tag(l: &str) -> bool {
    let head = l.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    head.len() < l.len() && matches!(head, "" | "py" | "python" | "pytest" | "django" | "node" | "v" | "gh" | "issue" | "bug" | "pr" | "b" | "cl" | "crbug" | "numpy" | "sphinx" | "php" | "java" | "go" | "rust")
}

/// Name parts that mark an organisation, a product or boilerplate rather than a person.
const NOT_NAME_WORDS: &[&str] = &[
    "The", "Free", "Software", "Foundation", "Inc", "Ltd", "Llc", "Corp", "Corporation", "Company", "Project",
    "Team", "Authors", "Author", "Contributors", "Contributor", "License", "Licensed", "Apache", "Google",
    "Microsoft", "Amazon", "Facebook", "Meta", "Oracle", "Mozilla", "Linux", "Python", "All", "Rights", "Reserved",
    "Copyright", "Open", "Source", "Community", "Developers", "Developer", "University", "Institute", "Labs", "Lab",
    "Systems", "Technologies", "Technology", "Group", "Holdings", "Limited", "Gmbh", "Software", "Public", "General",
    "Lesser", "Library", "Version", "See", "This", "That", "And", "For", "With", "From", "Use", "Used", "Using",
    "Permission", "Redistribution", "Redistributions", "Notice", "Unless", "Code", "File", "Files", "Date", "Name",
    "Email", "Mail", "Maintainer", "Maintainers", "Owner", "Owners", "Contact", "Support", "Signed", "Update",
    "Fix", "Fixed", "Add", "Added", "Merge", "Bump", "Release", "Initial", "Commit", "Github", "Gitlab", "Bot",
    "Security", "Admin", "Administrator", "Service", "Services", "Cloud", "Data", "Systems", "Solutions",
    "Networks", "Association", "Society", "Council", "Consortium", "Alliance", "Partners", "Studio", "Studios",
    "Games", "Media", "Digital", "Works", "Industries", "Enterprises", "Ventures", "Capital", "Bank", "Health",
    "Trust", "Fund", "Agency", "Department", "Office", "Ministry", "Government", "National", "International",
    "Global", "Center", "Centre", "School", "College", "Academy", "Research", "Unknown", "Anonymous", "Various",
    "Others", "Everyone", "Hello", "World", "Test", "Example", "Sample", "Demo", "Lorem", "Ipsum", "Doe",
    "Network", "Computing", "Devices", "Microsystems", "Electronics", "Graphics", "Machines", "Associates",
    "Patch", "Issue", "Module", "Class", "Function", "Object", "Unicode", "Codec", "Python", "Java", "Rust",
];

fn name_pat() -> &'static str {
    // 2-4 capitalised words (any cased script: Latin with diacritics, Greek, Cyrillic); up to two
    // nobiliary particles (de la Cruz, van der Berg); hyphenated or apostrophe parts (Jean-Luc,
    // O'Brien). Scripts without case: 2-4 Han or Hangul characters (a family and a given name),
    // katakana with an optional middle dot, Arabic or Hebrew words.
    r"(?:(?:Mc|Mac|O['’])?\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?(?:[ \t]+(?:(?:van|von|de|der|den|da|di|du|del|della|la|le|bin|ibn|al|el|ter|ten|dos|das|y)[ \t]+){0,2}(?:Mc|Mac|O['’])?\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?){1,3}|\p{Han}{2,4}|\p{Hangul}{2,4}|\p{Katakana}{2,}[・･ ]\p{Katakana}{2,}|\p{Arabic}{2,}(?:[ \t]+\p{Arabic}{2,}){1,3}|\p{Hebrew}{2,}(?:[ \t]+\p{Hebrew}{2,}){1,3})"
}

/// A name in a script without letter case (Han, Hangul) is one run of characters.
fn uncased_name(v: &str) -> bool {
    let n = v.chars().count();
    (2..=4).contains(&n) && v.chars().all(|c| matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xAC00..=0xD7AF))
}

/// Is this capitalised word sequence plausibly a person's full name?
pub fn name_ok(v: &str) -> bool {
    let words: Vec<&str> = v.split_whitespace().collect();
    if words.len() < 2 {
        return uncased_name(v) || v.contains(['・', '･']);
    }
    !words.iter().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphabetic());
        NOT_NAME_WORDS.iter().any(|n| n.eq_ignore_ascii_case(w)) || w.chars().count() < 2
    })
}

/// The match stops inside a longer word (`Mesh Tensor|Flow`, `Tencent Hun|Yuan`): a product name.
fn glued_word(text: &str, e: usize) -> bool {
    text[e..].chars().next().is_some_and(char::is_alphanumeric)
}

/// Drop trailing words that start a company suffix (Acme Widgets Inc) — the whole match is then no name.
fn followed_by_org(text: &str, e: usize) -> bool {
    let rest = text[e..].trim_start_matches([' ', ',', '\t']);
    let word: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    ["Inc", "LLC", "Ltd", "GmbH", "Corp", "Corporation", "Foundation", "Project", "Team", "Labs", "AG", "SA", "BV", "Co"]
        .contains(&word.as_str())
}

fn name_before_email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pat = format!(
            r#"({})["']?(?:\s*,\s*["']?(?i:e-?mail|mail)["']?\s*[:=]\s*)?[ \t]*[<(\["',:;=\-]?[ \t]*["']?(?:mailto:)?$"#,
            name_pat()
        );
        Regex::new(&pat).expect("static regex")
    })
}

fn name_after_email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!(r#"^["']?\s*>\s*({})\s*</"#, name_pat())).expect("static regex"))
}

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}\b").expect("static regex")
    })
}

/// Name <mail>, ('Name', 'mail'), {"name": "Name", "email": "mail"}, <a href="mailto:mail">Name</a>.
pub fn name_with_email(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    for m in email_re().find_iter(text) {
        if !email_ok(text, m.start(), m.end()) {
            continue;
        }
        let (ls, le) = super::line_bounds(text, m.start());
        let mut from = m.start().saturating_sub(120).max(ls);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        let window = &text[from..m.start()];
        if let Some(c) = name_before_email_re().captures(window).and_then(|c| c.get(1)) {
            let (s, e) = (from + c.start(), from + c.end());
            if name_ok(&text[s..e]) && !glued_word(text, e) {
                out.push(Cand { start: s, end: e, rule });
            }
        }
        let after = &text[m.end()..le];
        if let Some(c) = name_after_email_re().captures(after).and_then(|c| c.get(1)) {
            let (s, e) = (m.end() + c.start(), m.end() + c.end());
            if name_ok(&text[s..e]) && !glued_word(text, e) {
                out.push(Cand { start: s, end: e, rule });
            }
        }
    }
}

fn trigger_tail_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // After the trigger word: separators, (c)/©, years, an opening quote or bracket, then the name.
        let pat = format!(
            r#"^(?:s|ed|ship)?(?:[ \t]+(?:by|to|is))?["']?[ \t]*[:=：]?[ \t]*[\[("'{{]?[ \t]*(?:(?:\((?i:c)\)|©)[ \t]*)?(?:\d{{4}}(?:[ \t]*[-–,][ \t]*\d{{4}})*,?[ \t]+)?(?:(?:\((?i:c)\)|©)[ \t]*)?(?:by[ \t]+)?["']?({})"#,
            name_pat()
        );
        Regex::new(&pat).expect("static regex")
    })
}

/// Author:, @author, Copyright (c) 2016, Signed-off-by:, maintainer:, "authors" = [...] …
pub fn name_after_trigger(engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let b = text.as_bytes();
    for (ks, ke) in doc.keyword_hits(engine, rule) {
        // The trigger must start a word (not `coauthors_table`), and a JSON/TOML key may be quoted.
        if ks > 0 && (b[ks - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let (_, le) = super::line_bounds(text, ks);
        let tail = &text[ke..le];
        let Some(c) = trigger_tail_re().captures(tail).and_then(|c| c.get(1)) else { continue };
        let (s, e) = (ke + c.start(), ke + c.end());
        if name_ok(&text[s..e]) && !followed_by_org(text, e) && !glued_word(text, e) {
            out.push(Cand { start: s, end: e, rule });
        }
        // Lists: authors = ["A B <a@x>", "C D <c@y>"] — later names on the line are caught by
        // name-with-email; nothing else to do here.
    }
}

fn name_handle_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!(r"({})[ \t]*\(\[?@[A-Za-z0-9]", name_pat())).expect("static regex"))
}

/// - Zainab Mensah (@zmensah) / - Maria Petrov ([@user](https://github.com/user))
pub fn name_with_handle(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    for c in name_handle_re().captures_iter(doc.text).filter_map(|c| c.get(1)) {
        if name_ok(c.as_str()) {
            out.push(Cand { start: c.start(), end: c.end(), rule });
        }
    }
}

/// Tags of doc comments and decorators/annotations that look like @handles.
const AT_WORDS: &[&str] = &[
    "author", "param", "return", "returns", "throws", "throw", "see", "since", "version", "deprecated", "override",
    "type", "typedef", "property", "prop", "example", "link", "inheritdoc", "todo", "note", "brief", "file", "class",
    "interface", "module", "package", "private", "public", "protected", "static", "const", "var", "member",
    "function", "method", "callback", "event", "fires", "listens", "namespace", "memberof", "augments", "extends",
    "implements", "abstract", "async", "generator", "yields", "template", "media", "import", "font-face", "keyframes",
    "supports", "charset", "page", "layer", "apply", "tailwind", "include", "mixin", "extend", "if", "else", "each",
    "for", "while", "use", "forward", "content", "return", "staticmethod", "classmethod", "dataclass", "pytest",
    "mock", "patch", "test", "before", "after", "component", "injectable", "input", "output", "ngmodule", "sharedmodule",
    "types", "babel", "angular", "vue", "react", "emotion", "mui", "nestjs", "testing-library", "latest", "next",
    "beta", "alpha", "canary", "rc", "here", "channel", "everyone", "all", "team", "group", "github", "dependabot",
    "renovate", "mention", "mentions", "unchecked", "suppresswarnings", "nullable", "nonnull", "autowired", "bean",
    "entity", "table", "column", "id", "value", "get", "post", "put", "delete", "request", "response", "api", "app",
    "generated", "internal", "experimental", "nocommit", "noinspection", "flow", "jsx", "ts-ignore", "ts-expect-error",
    "ts-nocheck", "license", "preserve", "format", "vite", "vitest", "jest-environment", "eslint", "prettier",
    "lends", "name", "summary", "description", "details", "remarks", "returns", "exception", "warning", "bug",
    "copyright", "endcode", "code", "ref", "defgroup", "ingroup", "addtogroup", "struct", "enum", "union", "def",
    "fn", "var", "typeparam", "param", "retval", "pre", "post", "invariant", "test", "tests", "fixture", "slow",
];

fn handle_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?:^|[\s(\[,;:!>])@([A-Za-z0-9](?:[A-Za-z0-9_\-]{0,37}[A-Za-z0-9])?)").expect("static regex"))
}

/// @handle mentions in prose and comments.
pub fn handle(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let b = text.as_bytes();
    for c in handle_re().captures_iter(text).filter_map(|c| c.get(1)) {
        let (s, e) = (c.start(), c.end());
        let v = c.as_str();
        if let Some(&n) = b.get(e) {
            // @types/node, @app.route, @pytest.fixture(…), user@host-like continuations.
            if matches!(n, b'/' | b'.' | b'(' | b'@' | b'_' | b'-') && !(n == b'.' && b.get(e + 1).is_none_or(u8::is_ascii_whitespace)) {
                continue;
            }
        }
        let lower = v.to_ascii_lowercase();
        if AT_WORDS.contains(&lower.as_str()) || is_generic_account(v) || v.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // A decorator or annotation starts its line (after indentation or a doc-comment star).
        let (ls, _) = super::line_bounds(text, s);
        let before = text[ls..s - 1].trim_start_matches([' ', '\t', '*', '/', '#']);
        if before.is_empty() && (b[s - 1] == b'@') {
            let prev = text[ls..s - 1].trim();
            if prev.is_empty() || prev == "*" || prev.starts_with('*') && prev.len() <= 2 {
                continue;
            }
        }
        // Capitalised single words after @ are annotations (@Override, @Test) unless in parentheses;
        // a bare lowercase word (@overload, @runtime_checkable, Doxygen's @p/@a/@c) is a decorator or
        // a doc command unless it is bracketed or thanked — real handles usually carry a digit or '-'.
        // Rust macro_rules internal rules (`(@helper $x:ident)`, `(@stack[...]`) and CSS/XPath
        // at-names are syntax, not mentions.
        let next = text[e..].trim_start_matches([' ', '\t']).bytes().next();
        if next.is_some_and(|c| matches!(c, b'$' | b'[' | b'{' | b'(')) || (s >= 2 && b[s - 2] == b'(' && next.is_some_and(|c| c.is_ascii_alphabetic())) {
            continue;
        }
        let bracketed = s >= 2 && matches!(b[s - 2], b'(' | b'[');
        if v.chars().next().is_some_and(char::is_uppercase) && !bracketed {
            continue;
        }
        let marked = v.bytes().any(|c| c.is_ascii_digit() || c == b'-');
        let lead = text[ls..s - 1].to_ascii_lowercase();
        let thanked = ["thanks", "thank you", "by", "cc", "cc:", "maintainer:", "author:", "owner:", "reviewer:", "ping", "from"]
            .iter()
            .any(|w| lead.trim_end().ends_with(w));
        if v.len() < 2 || !(marked || bracketed || thanked) {
            continue;
        }
        // snake_case without a digit is a decorator named in prose (by @total_ordering); several
        // hyphenated words are a documented property (@no-stem-darkening); doc comments (`* @x`)
        // are full of tags, so there a handle needs a digit.
        let digit = v.bytes().any(|c| c.is_ascii_digit());
        if !digit && !bracketed && (v.contains('_') || v.matches('-').count() >= 2) {
            continue;
        }
        let line_head = text[ls..s - 1].trim_start();
        if !digit && (line_head.starts_with('*') || line_head.starts_with("///") || line_head.starts_with("//!")) {
            continue;
        }
        if v.len() < 3 {
            continue;
        }
        out.push(Cand { start: s, end: e, rule });
    }
}

fn profile_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:github|gitlab)\.com/([A-Za-z0-9](?:[A-Za-z0-9_\-]{0,37}[A-Za-z0-9])?)/?(?:[\s)"'\]>,]|$)"#).expect("static regex")
    })
}

const NOT_PROFILES: &[&str] = &[
    "about", "orgs", "organizations", "settings", "features", "pricing", "login", "join", "explore", "topics",
    "marketplace", "sponsors", "issues", "pulls", "notifications", "security", "apps", "enterprise", "contact",
    "site", "collections", "trending", "new", "search", "users", "help", "docs",
];

/// github.com/<user> profile links (a repository path means an org or project, not a person).
pub fn profile_url(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    for c in profile_re().captures_iter(doc.text).filter_map(|c| c.get(1)) {
        let v = c.as_str();
        let gist = c.start() >= 12 && doc.text[..c.start()].ends_with("gist.github.com/");
        if !gist && !NOT_PROFILES.contains(&v.to_ascii_lowercase().as_str()) && !is_generic_account(v) && !v.bytes().all(|c| c.is_ascii_digit()) {
            out.push(Cand { start: c.start(), end: c.end(), rule });
        }
    }
}

fn ssh_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:^|[\s/'\x22])([a-z_][a-z0-9_.\-]{1,31})@(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*|\[[0-9A-Fa-f:]+\])")
            .expect("static regex")
    })
}

/// ssh deploy_user@203.0.113.9, scp file alice99@host:/tmp — only on lines that run ssh-family tools.
pub fn ssh_login(_engine: &Engine, doc: &Doc<'_>, rule: usize, out: &mut Vec<Cand>) {
    let text = doc.text;
    let _ = rule_index;
    for c in ssh_re().captures_iter(text).filter_map(|c| c.get(1)) {
        let (ls, le) = super::line_bounds(text, c.start());
        let line = &text[ls..le];
        let tool = ["ssh ", "scp ", "rsync ", "sftp ", "ssh://", "sftp://", "ssh-copy-id "].iter().any(|t| line.contains(t));
        if tool && !is_generic_account(c.as_str()) {
            out.push(Cand { start: c.start(), end: c.end(), rule });
        }
    }
}
