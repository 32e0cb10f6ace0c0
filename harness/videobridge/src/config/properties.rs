//! Reader for `sip-communicator.properties`: the subset of
//! `java.util.Properties.load` that JVB's legacy config relies on
//! (follows the JDK's documented `Properties.load(Reader)` grammar).
//!
//! - `key=value`, `key: value`, `key value` (first unescaped `=`, `:` or
//!   whitespace ends the key);
//! - `#` and `!` comment lines, blank lines;
//! - a line ending in an odd number of backslashes continues on the next one
//!   (leading whitespace of the continuation is dropped);
//! - escapes `\t \n \r \f \uXXXX`, and `\x` -> `x` for any other `x`;
//! - a later duplicate key replaces an earlier one.
//!
//! The only error Java reports is a malformed `\uXXXX`; we report it the same
//! way, with file and line.

use super::ParseError;

/// One `key = value` entry with the (1-based) line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A parsed properties file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub file: String,
    /// Entries in file order; duplicates removed (the last one kept, at its
    /// position).
    pub entries: Vec<Entry>,
}

impl Properties {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The entry of `key`, if set.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Parse properties text. `file` is used in error messages only.
pub fn parse(text: &str, file: &str) -> Result<Properties, ParseError> {
    let mut props = Properties {
        file: file.to_string(),
        entries: Vec::new(),
    };
    // Split into physical lines on \n, \r\n or \r (as LineReader does).
    let mut physical: Vec<&str> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                physical.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                physical.push(rest);
                rest = "";
            }
        }
    }

    let mut i = 0;
    while i < physical.len() {
        let start_line = i + 1;
        let first = physical[i].trim_start_matches([' ', '\t', '\x0c']);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            if i >= physical.len() {
                break;
            }
            logical.push_str(physical[i].trim_start_matches([' ', '\t', '\x0c']));
            i += 1;
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|reason| ParseError::new(file, start_line, reason))?;
        let value = unescape(value).map_err(|reason| ParseError::new(file, start_line, reason))?;
        props.entries.retain(|e| e.key != key);
        props.entries.push(Entry {
            key,
            value,
            line: start_line,
        });
    }
    Ok(props)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Split a logical line into its raw (still escaped) key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut key_end = bytes.len();
    let mut escaped = false;
    let mut sep_is_ws = false;
    for (idx, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'=' | b':' => {
                key_end = idx;
                break;
            }
            b' ' | b'\t' | b'\x0c' => {
                key_end = idx;
                sep_is_ws = true;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if sep_is_ws {
        rest = rest.trim_start_matches([' ', '\t', '\x0c']);
        if rest.starts_with(['=', ':']) {
            rest = &rest[1..];
        }
    } else if !rest.is_empty() {
        rest = &rest[1..];
    }
    (key, rest.trim_start_matches([' ', '\t', '\x0c']))
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| "Malformed \\uxxxx encoding.".to_string())?;
                // Lone surrogates cannot be represented; use U+FFFD as Java's
                // String would carry them through unchanged.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_comments_and_duplicates() {
        let p = parse(
            "# comment\n! also\n\na=1\nb: 2\nc 3\n  d = 4  \ne\na=5\n",
            "sip.properties",
        )
        .unwrap();
        assert_eq!(p.get("a"), Some("5"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.get("c"), Some("3"));
        assert_eq!(p.get("d"), Some("4  "));
        assert_eq!(p.get("e"), Some(""));
        assert_eq!(p.entry("a").unwrap().line, 9);
    }

    #[test]
    fn continuation_and_escapes() {
        let p = parse(
            "key=one,\\\n    two\\\\\nk\\=x=\\u0041\\tB\\q\r\nwin=1\rmac=2",
            "f",
        )
        .unwrap();
        assert_eq!(p.get("key"), Some("one,two\\"));
        assert_eq!(p.get("k=x"), Some("A\tBq"));
        assert_eq!(p.get("win"), Some("1"));
        assert_eq!(p.get("mac"), Some("2"));
    }

    #[test]
    fn real_jvb_lines() {
        let p = parse(
            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=172.30.77.20\n\
             org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=198.51.100.2\n\
             org.jitsi.videobridge.TCP_HARVESTER_PORT=4443\n",
            "sip-communicator.properties",
        )
        .unwrap();
        assert_eq!(
            p.get("org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS"),
            Some("172.30.77.20")
        );
        assert_eq!(
            p.get("org.jitsi.videobridge.TCP_HARVESTER_PORT"),
            Some("4443")
        );
    }

    #[test]
    fn malformed_unicode_escape_names_file_and_line() {
        let e = parse("a=1\nb=\\u12G4\n", "/etc/x.properties").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "/etc/x.properties:2: Malformed \\uxxxx encoding."
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text, "p");
        }

        #[test]
        fn never_panics_on_property_like_text(text in "([a-z.\\\\:= !#\\t\\r\\nu0-9A-F]){0,200}") {
            let _ = parse(&text, "p");
        }
    }
}
