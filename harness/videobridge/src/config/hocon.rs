//! Reader for the HOCON subset found in `/etc/jitsi/videobridge/jvb.conf`
//! (grammar per Lightbend's HOCON.md, which JVB's typesafe-config implements):
//!
//! - root object with or without braces; nested objects `a { b { c = 1 } }`;
//! - dotted keys `a.b.c = x` (quoted segments keep their dots);
//! - separators `=`, `:` (optional before `{`), `+=` appends to a list;
//! - quoted strings (with JSON escapes), triple-quoted strings, unquoted
//!   strings (to end of line, `,`, `}`, `]` or a comment; `5 seconds` is one
//!   value), numbers and booleans kept as text and converted on access;
//! - lists, including lists of objects;
//! - `#` and `//` comments; commas or newlines between fields;
//! - objects with the same key merge, anything else is replaced by the later
//!   value (HOCON's duplicate-key rule).
//!
//! Not supported (no effect on the keys the bridge reads): substitutions are
//! kept as the literal text `${...}`; `include` lines are skipped.

use super::ParseError;

/// A value with the line it started on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Fields in first-seen order.
    Object(Vec<(String, Node)>),
    List(Vec<Node>),
    /// A string, number, boolean or substitution, as written.
    Str {
        text: String,
        quoted: bool,
    },
    Null,
}

impl Node {
    /// Follow a dotted path (`a.b.c`; no quoting in `path`).
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut cur = self;
        for seg in path.split('.') {
            match &cur.value {
                Value::Object(fields) => {
                    cur = fields.iter().find(|(k, _)| k == seg).map(|(_, n)| n)?;
                }
                _ => return None,
            }
        }
        Some(cur)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    /// HOCON booleans: true/false/yes/no/on/off.
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(true),
            "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_str()?.trim().parse().ok()
    }

    pub fn as_list(&self) -> Option<&[Node]> {
        match &self.value {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// A parsed HOCON document: its root object and the file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub file: String,
    pub root: Node,
}

impl Document {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.root.get(path)
    }
}

const MAX_DEPTH: usize = 64;

/// Parse HOCON text. `file` is used in error messages only.
pub fn parse(text: &str, file: &str) -> Result<Document, ParseError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        file,
    };
    p.skip_blank(true);
    let root = if p.peek() == Some('{') {
        let line = p.line;
        p.bump();
        let fields = p.object_body(Some('}'), 1)?;
        p.skip_blank(true);
        if let Some(c) = p.peek() {
            return Err(p.err(format!("unexpected '{c}' after the root object")));
        }
        Node {
            value: Value::Object(fields),
            line,
        }
    } else {
        Node {
            value: Value::Object(p.object_body(None, 1)?),
            line: 1,
        }
    };
    Ok(Document {
        file: file.to_string(),
        root,
    })
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    file: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> ParseError {
        ParseError::new(self.file, self.line, reason)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn at_comment(&self) -> bool {
        self.peek() == Some('#') || (self.peek() == Some('/') && self.peek_at(1) == Some('/'))
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Skip spaces and comments, and newlines too when `newlines`.
    fn skip_blank(&mut self, newlines: bool) {
        loop {
            match self.peek() {
                Some('\n') if newlines => {
                    self.bump();
                }
                Some(c) if c != '\n' && c.is_whitespace() => {
                    self.bump();
                }
                Some('\u{feff}') => {
                    self.bump();
                }
                _ if self.at_comment() => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn object_body(
        &mut self,
        close: Option<char>,
        depth: usize,
    ) -> Result<Vec<(String, Node)>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let mut fields: Vec<(String, Node)> = Vec::new();
        loop {
            self.skip_blank(true);
            while self.peek() == Some(',') {
                self.bump();
                self.skip_blank(true);
            }
            match (self.peek(), close) {
                (None, None) => return Ok(fields),
                (None, Some(c)) => return Err(self.err(format!("missing '{c}' at end of file"))),
                (Some(c), Some(cl)) if c == cl => {
                    self.bump();
                    return Ok(fields);
                }
                _ => {}
            }
            let line = self.line;
            let path = self.key_path()?;
            if path.len() == 1
                && path[0] == "include"
                && matches!(self.peek(), Some(c) if c.is_whitespace())
            {
                // `include "file"`: skipped (see module doc).
                self.skip_blank(false);
                if matches!(self.peek(), Some('"') | Some('r') | Some('f') | Some('c')) {
                    self.skip_comment();
                    continue;
                }
            }
            self.skip_blank(false);
            let append = match self.peek() {
                Some('=') | Some(':') => {
                    self.bump();
                    false
                }
                Some('+') if self.peek_at(1) == Some('=') => {
                    self.bump();
                    self.bump();
                    true
                }
                Some('{') => false,
                Some(c) => {
                    return Err(self.err(format!(
                        "expected '=', ':' or '{{' after key '{}', found '{}'",
                        path.join("."),
                        c.escape_debug()
                    )))
                }
                None => return Err(self.err(format!("key '{}' has no value", path.join(".")))),
            };
            self.skip_blank(false);
            let mut value = self.value(depth)?;
            value.line = line;
            set_path(&mut fields, &path, value, append);
            // After a value: end of line, comma, comment or the closing brace.
            self.skip_blank(false);
            match self.peek() {
                None | Some('\n') | Some(',') => {}
                Some(c) if Some(c) == close => {}
                Some(c) => {
                    return Err(self.err(format!("unexpected '{}' after a value", c.escape_debug())))
                }
            }
        }
    }

    fn key_path(&mut self) -> Result<Vec<String>, ParseError> {
        let mut segs = Vec::new();
        loop {
            let seg = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                let mut s = String::new();
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || "=:{}[],.\"#+$".contains(c) || self.at_comment() {
                        break;
                    }
                    s.push(c);
                    self.bump();
                }
                if s.is_empty() {
                    return Err(match self.peek() {
                        Some(c) => {
                            self.err(format!("expected a key, found '{}'", c.escape_debug()))
                        }
                        None => self.err("expected a key"),
                    });
                }
                s
            };
            segs.push(seg);
            if self.peek() == Some('.') {
                self.bump();
                continue;
            }
            return Ok(segs);
        }
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.line;
        self.bump(); // opening quote
        if self.peek() == Some('"') && self.peek_at(1) == Some('"') {
            self.bump();
            self.bump();
            let mut s = String::new();
            loop {
                match self.peek() {
                    None => {
                        return Err(ParseError::new(
                            self.file,
                            start,
                            "unterminated \"\"\" string",
                        ))
                    }
                    Some('"') if self.peek_at(1) == Some('"') && self.peek_at(2) == Some('"') => {
                        self.bump();
                        self.bump();
                        self.bump();
                        return Ok(s);
                    }
                    Some(c) => {
                        s.push(c);
                        self.bump();
                    }
                }
            }
        }
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(ParseError::new(self.file, start, "unterminated string"))
                }
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.err("bad \\u escape in string"))?;
                        s.push(c);
                    }
                    Some(c @ ('"' | '\\' | '/')) => s.push(c),
                    Some(c) => {
                        return Err(
                            self.err(format!("bad escape '\\{}' in string", c.escape_debug()))
                        )
                    }
                    None => return Err(self.err("unterminated string")),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let line = self.line;
        match self.peek() {
            Some('{') => {
                self.bump();
                let fields = self.object_body(Some('}'), depth + 1)?;
                Ok(Node {
                    value: Value::Object(fields),
                    line,
                })
            }
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_blank(true);
                    while self.peek() == Some(',') {
                        self.bump();
                        self.skip_blank(true);
                    }
                    match self.peek() {
                        None => {
                            return Err(ParseError::new(
                                self.file,
                                line,
                                "missing ']' for this list",
                            ))
                        }
                        Some(']') => {
                            self.bump();
                            return Ok(Node {
                                value: Value::List(items),
                                line,
                            });
                        }
                        _ => {
                            let item = self.value(depth + 1)?;
                            items.push(item);
                            self.skip_blank(false);
                            match self.peek() {
                                Some(',') | Some('\n') | Some(']') | None => {}
                                Some(c) => {
                                    return Err(self.err(format!(
                                        "unexpected '{}' in a list",
                                        c.escape_debug()
                                    )))
                                }
                            }
                        }
                    }
                }
            }
            Some('"') => {
                let s = self.quoted()?;
                Ok(Node {
                    value: Value::Str {
                        text: s,
                        quoted: true,
                    },
                    line,
                })
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(c) = self.peek() {
                    if c == '\n' || c == ',' || c == '}' || c == ']' || self.at_comment() {
                        break;
                    }
                    if c == '{' || c == '[' {
                        if s.ends_with('$') && c == '{' {
                            // substitution ${...}: keep as text
                            while let Some(c2) = self.bump() {
                                s.push(c2);
                                if c2 == '}' || c2 == '\n' {
                                    break;
                                }
                            }
                            continue;
                        }
                        return Err(self.err(format!("unexpected '{c}' in an unquoted value")));
                    }
                    s.push(c);
                    self.bump();
                }
                let s = s.trim_end().to_string();
                if s.is_empty() {
                    return Err(self.err("expected a value"));
                }
                let value = if s == "null" {
                    Value::Null
                } else {
                    Value::Str {
                        text: s,
                        quoted: false,
                    }
                };
                Ok(Node { value, line })
            }
            None => Err(self.err("expected a value at end of file")),
        }
    }
}

fn set_path(fields: &mut Vec<(String, Node)>, path: &[String], value: Node, append: bool) {
    let (head, rest) = match path.split_first() {
        Some(x) => x,
        None => return,
    };
    let existing = fields.iter().position(|(k, _)| k == head);
    if rest.is_empty() {
        match existing {
            Some(i) => {
                let old = &mut fields[i].1;
                match (&mut old.value, value.value) {
                    (Value::Object(old_fields), Value::Object(new_fields)) if !append => {
                        for (k, v) in new_fields {
                            set_path(old_fields, &[k], v, false);
                        }
                    }
                    (Value::List(items), v) if append => items.push(Node {
                        value: v,
                        line: value.line,
                    }),
                    (_, v) => {
                        let new = if append {
                            Node {
                                value: Value::List(vec![Node {
                                    value: v,
                                    line: value.line,
                                }]),
                                line: value.line,
                            }
                        } else {
                            Node {
                                value: v,
                                line: value.line,
                            }
                        };
                        fields.remove(i);
                        fields.push((head.clone(), new));
                    }
                }
            }
            None => {
                let node = if append {
                    Node {
                        line: value.line,
                        value: Value::List(vec![value]),
                    }
                } else {
                    value
                };
                fields.push((head.clone(), node));
            }
        }
        return;
    }
    let idx = match existing {
        Some(i) if matches!(fields[i].1.value, Value::Object(_)) => i,
        // A non-object (or nothing) under this key: a new object replaces it, last.
        other => {
            if let Some(i) = other {
                fields.remove(i);
            }
            fields.push((
                head.clone(),
                Node {
                    value: Value::Object(Vec::new()),
                    line: value.line,
                },
            ));
            fields.len() - 1
        }
    };
    if let Value::Object(inner) = &mut fields[idx].1.value {
        set_path(inner, rest, value, append);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_dotted_and_merged() {
        let d = parse(
            "videobridge {\n  ice {\n    udp { port = 10000 }\n  }\n}\nvideobridge.ice.tcp.enabled = true\n\
             videobridge.ice.tcp { port: 4443, ssltcp = off }\n",
            "jvb.conf",
        )
        .unwrap();
        assert_eq!(
            d.get("videobridge.ice.udp.port").unwrap().as_i64(),
            Some(10000)
        );
        assert_eq!(
            d.get("videobridge.ice.tcp.enabled").unwrap().as_bool(),
            Some(true)
        );
        assert_eq!(
            d.get("videobridge.ice.tcp.port").unwrap().as_i64(),
            Some(4443)
        );
        assert_eq!(
            d.get("videobridge.ice.tcp.ssltcp").unwrap().as_bool(),
            Some(false)
        );
        assert_eq!(d.get("videobridge.ice.tcp.port").unwrap().line, 7);
    }

    #[test]
    fn static_mappings_list_of_objects() {
        let d = parse(
            r#"
            // jvb.conf as a 2024 install writes it
            ice4j {
              harvest {
                mapping {
                  static-mappings = [
                    { local-address = "172.30.77.20", public-address = "198.51.100.2", name = "nat" },
                    {
                      local-address = 10.0.0.1   # unquoted works too
                      public-address: "1.2.3.4"
                      local-port = 10000
                      public-port = 20000
                    }
                  ]
                }
              }
            }
            videobridge { http-servers { public { port = 9090 } }, websockets { domain = "meet.lab.test:443" } }
            "#,
            "jvb.conf",
        )
        .unwrap();
        let list = d
            .get("ice4j.harvest.mapping.static-mappings")
            .unwrap()
            .as_list()
            .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0].get("local-address").unwrap().as_str(),
            Some("172.30.77.20")
        );
        assert_eq!(list[0].get("name").unwrap().as_str(), Some("nat"));
        assert_eq!(
            list[1].get("local-address").unwrap().as_str(),
            Some("10.0.0.1")
        );
        assert_eq!(list[1].get("public-port").unwrap().as_i64(), Some(20000));
        assert_eq!(
            d.get("videobridge.websockets.domain").unwrap().as_str(),
            Some("meet.lab.test:443")
        );
    }

    #[test]
    fn braced_root_quoted_keys_durations_and_append() {
        let d = parse(
            "{\n \"a.b\" = 1\n t = 5 seconds\n l = [1, 2]\n l += 3\n s = ${x.y}\n n = null }",
            "f",
        )
        .unwrap();
        let root = &d.root;
        match &root.value {
            Value::Object(f) => assert_eq!(f[0].0, "a.b"),
            _ => panic!(),
        }
        assert_eq!(d.get("t").unwrap().as_str(), Some("5 seconds"));
        assert_eq!(d.get("l").unwrap().as_list().unwrap().len(), 3);
        assert_eq!(d.get("s").unwrap().as_str(), Some("${x.y}"));
        assert_eq!(d.get("n").unwrap().value, Value::Null);
    }

    #[test]
    fn later_scalar_replaces_object_and_vice_versa() {
        let d = parse("a { b = 1 }\na = 2\nc = 1\nc.d = 3\n", "f").unwrap();
        assert_eq!(d.get("a").unwrap().as_i64(), Some(2));
        assert_eq!(d.get("c.d").unwrap().as_i64(), Some(3));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("a {\n b = 1\n", "/etc/jitsi/videobridge/jvb.conf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/jitsi/videobridge/jvb.conf:3: missing '}' at end of file"
        );
        let e = parse("a = 1\nb = \"open\n", "jvb.conf").unwrap_err();
        assert_eq!((e.line, e.reason.as_str()), (2, "unterminated string"));
        let e = parse("a = 1\n\nb ; 2\n", "jvb.conf").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("x = [1, 2\n", "jvb.conf").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let s = "[".repeat(10_000);
        assert!(parse(&format!("a = {s}"), "f").is_err());
        let s = "a {".repeat(10_000);
        assert!(parse(&s, "f").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text, "f");
        }

        #[test]
        fn never_panics_on_hocon_like_text(text in "([a-z.{}\\[\\]=:,\"#/ \\n+$0-9]){0,200}") {
            let _ = parse(&text, "f");
        }
    }
}
