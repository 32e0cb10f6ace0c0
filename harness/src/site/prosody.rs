//! The part of a prosody config (Lua) that concerns TURN: `external_service_secret` (prosody's
//! core `mod_external_services`), Jitsi's older `turncredentials_secret`, and the
//! `external_services` table (what XEP-0215 hands out). A small Lua reader: strings (all three
//! forms), comments, numbers, booleans and table constructors; anything else is skipped.

use crate::error::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// A Lua value as far as this reader understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Table(Vec<(Option<String>, Value)>),
    Other,
}

/// One `external_services` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub fields: BTreeMap<String, Value>,
    pub line: usize,
}

impl Service {
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.fields.get(k) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// `port` must be a Lua number: mod_external_services ignores a string port (0.12
    /// `prepare`: `type(item.port) == "number"`).
    pub fn port(&self) -> Option<u16> {
        match self.fields.get("port") {
            Some(Value::Num(n)) if *n >= 1.0 && *n <= 65535.0 => Some(*n as u16),
            _ => None,
        }
    }

    /// `secret = true` (use external_service_secret) or `secret = "..."`.
    pub fn secret<'a>(&'a self, global: Option<&'a str>) -> Option<&'a str> {
        match self.fields.get("secret") {
            Some(Value::Bool(true)) => global,
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prosody {
    pub file: String,
    /// Top-level and per-section assignments: name -> (value, line).
    pub assignments: Vec<(String, Value, usize)>,
    /// `VirtualHost "name"` and `Component "name" "module"` lines.
    pub sections: Vec<(String, String, Option<String>, usize)>,
}

impl Prosody {
    pub fn get(&self, name: &str) -> Option<(&Value, usize)> {
        self.assignments
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, l)| (v, *l))
    }

    /// The secret TURN credentials are made with, and its line.
    pub fn turn_secret(&self) -> Option<(&str, usize)> {
        for key in ["external_service_secret", "turncredentials_secret"] {
            if let Some((Value::Str(s), l)) = self.get(key) {
                return Some((s, l));
            }
        }
        None
    }

    pub fn services(&self) -> Vec<Service> {
        let Some((Value::Table(items), line)) = self.get("external_services") else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|(_, v)| match v {
                Value::Table(fields) => Some(Service {
                    fields: fields
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone()?, v.clone())))
                        .collect(),
                    line,
                }),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Punct(char),
}

fn lex(file: &Path, text: &str) -> Result<Vec<(Tok, usize)>, ConfigError> {
    let b: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0usize, 1usize);
    let mut out = Vec::new();
    let err = |line: usize, why: &str| ConfigError::new(file.display(), line, why);
    // `[[...]]` / `[==[...]==]`: the level and where the body starts.
    let long_open = |i: usize| -> Option<(usize, usize)> {
        if b.get(i) != Some(&'[') {
            return None;
        }
        let eq = b[i + 1..].iter().take_while(|c| **c == '=').count();
        (b.get(i + 1 + eq) == Some(&'[')).then_some((eq, i + 2 + eq))
    };
    let long_close = |from: usize, eq: usize| -> Option<usize> {
        let close: String = std::iter::once(']')
            .chain(std::iter::repeat_n('=', eq))
            .chain(std::iter::once(']'))
            .collect();
        let rest: String = b[from..].iter().collect();
        rest.find(&close)
            .map(|at| from + rest[..at].chars().count())
    };
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '-' && b.get(i + 1) == Some(&'-') {
            if let Some((eq, body)) = long_open(i + 2) {
                let end =
                    long_close(body, eq).ok_or_else(|| err(line, "unfinished long comment"))?;
                line += b[i..end].iter().filter(|c| **c == '\n').count();
                i = end + eq + 2;
            } else {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
        } else if c == '"' || c == '\'' {
            let start = line;
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None | Some('\n') => return Err(err(start, "unfinished string")),
                    Some(ch) if *ch == c => break,
                    Some('\\') => {
                        let esc = b.get(i + 1).copied().unwrap_or('\\');
                        s.push(match esc {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push((Tok::Str(s), start));
        } else if let Some((eq, body)) = long_open(i) {
            let end = long_close(body, eq).ok_or_else(|| err(line, "unfinished long string"))?;
            let s: String = b[body..end].iter().collect();
            out.push((Tok::Str(s.clone()), line));
            line += s.matches('\n').count();
            i = end + eq + 2;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
            let s: String = b[start..i].iter().collect();
            out.push((Tok::Num(s.parse().unwrap_or(f64::NAN)), line));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push((Tok::Name(b[start..i].iter().collect()), line));
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    Ok(out)
}

struct P<'a> {
    t: &'a [(Tok, usize)],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|(t, _)| t)
    }

    fn value(&mut self) -> Value {
        match self.t.get(self.i).cloned() {
            Some((Tok::Str(s), _)) => {
                self.i += 1;
                Value::Str(s)
            }
            Some((Tok::Num(n), _)) => {
                self.i += 1;
                Value::Num(n)
            }
            Some((Tok::Name(n), _)) if n == "true" || n == "false" => {
                self.i += 1;
                Value::Bool(n == "true")
            }
            Some((Tok::Punct('{'), _)) => {
                self.i += 1;
                self.table()
            }
            _ => {
                self.skip_expr();
                Value::Other
            }
        }
    }

    fn table(&mut self) -> Value {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => return Value::Table(items),
                Some(Tok::Punct('}')) => {
                    self.i += 1;
                    return Value::Table(items);
                }
                Some(Tok::Punct(',' | ';')) => self.i += 1,
                Some(Tok::Name(n))
                    if matches!(self.t.get(self.i + 1), Some((Tok::Punct('='), _))) =>
                {
                    let k = n.clone();
                    self.i += 2;
                    let v = self.value();
                    items.push((Some(k), v));
                }
                Some(Tok::Punct('[')) => {
                    self.i += 1;
                    let k = match self.value() {
                        Value::Str(s) => Some(s),
                        _ => None,
                    };
                    while !matches!(self.peek(), None | Some(Tok::Punct('='))) {
                        self.i += 1;
                    }
                    self.i += 1;
                    let v = self.value();
                    items.push((k, v));
                }
                _ => {
                    // A stray `)` or `]` is not an expression: skip_expr stops on it without
                    // moving, so step over it here (else this loop never ends).
                    let at = self.i;
                    let v = self.value();
                    if self.i == at {
                        self.i += 1;
                    } else {
                        items.push((None, v));
                    }
                }
            }
        }
    }

    /// Skips an expression we do not model, balancing brackets.
    fn skip_expr(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct('{' | '(' | '[') => depth += 1,
                Tok::Punct('}' | ')' | ']') => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                Tok::Punct(',' | ';') if depth == 0 => return,
                _ => {}
            }
            self.i += 1;
            if depth == 0 {
                return;
            }
        }
    }
}

pub fn parse(file: &Path, text: &str) -> Result<Prosody, ConfigError> {
    let toks = lex(file, text)?;
    let mut p = P { t: &toks, i: 0 };
    let mut cfg = Prosody {
        file: file.display().to_string(),
        ..Default::default()
    };
    while p.i < toks.len() {
        let (tok, line) = toks[p.i].clone();
        match tok {
            Tok::Name(n) if n == "VirtualHost" || n == "Component" => {
                p.i += 1;
                let name = match p.value() {
                    Value::Str(s) => s,
                    _ => String::new(),
                };
                let module = match p.peek() {
                    Some(Tok::Str(_)) => match p.value() {
                        Value::Str(s) => Some(s),
                        _ => None,
                    },
                    _ => None,
                };
                cfg.sections.push((n, name, module, line));
            }
            Tok::Name(n) if matches!(toks.get(p.i + 1), Some((Tok::Punct('='), _))) => {
                p.i += 2;
                let v = p.value();
                cfg.assignments.push((n, v, line));
            }
            _ => p.i += 1,
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JITSI: &str = r#"-- Jitsi's prosody config
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
external_service_secret = "s3cret";
external_services = {
     { type = "stun", host = "meet.example.org", port = 3478 },
     { type = "turn", host = "meet.example.org", port = 3478, transport = "udp", secret = true, ttl = 86400, algorithm = "turn" },
     { type = "turns", host = "meet.example.org", port = 5349, transport = "tcp", secret = true, ttl = 86400, algorithm = "turn" }
};
--[[ a long
comment ]]
VirtualHost "meet.example.org"
    authentication = "jitsi-anonymous"
Component "conference.meet.example.org" "muc"
"#;

    #[test]
    fn reads_the_turn_part() {
        let c = parse(Path::new("meet.cfg.lua"), JITSI).unwrap();
        assert_eq!(c.turn_secret(), Some(("s3cret", 3)));
        let s = c.services();
        assert_eq!(s.len(), 3);
        assert_eq!(s[2].str("type"), Some("turns"));
        assert_eq!(s[2].port(), Some(5349));
        assert_eq!(s[2].secret(Some("s3cret")), Some("s3cret"));
        assert_eq!(c.sections.len(), 2);
        assert_eq!(c.sections[1].2.as_deref(), Some("muc"));
    }

    /// Found by `never_panics`: a closing bracket inside a table made the parser loop
    /// forever, growing its list until the machine ran out of memory.
    #[test]
    fn stray_closing_brackets_in_a_table_end() {
        for text in ["x = { ) }", "x = { ] , y = 1 }", "x = { a = 1, ) ]"] {
            let c = parse(Path::new("x"), text).unwrap();
            assert_eq!(c.assignments.len(), 1, "{text}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(Path::new("x"), &s);
        }

        /// Lua-shaped text (names, strings, numbers, brackets, separators, comments): the
        /// parser ends on every one of them.
        #[test]
        fn ends_on_lua_shaped_text(s in r#"( |\n|x|=|\{|\}|\(|\)|\[|\]|,|;|"a"|'b'|1|VirtualHost|Component|--|\[\[|\]\]|true){0,60}"#) {
            let _ = parse(Path::new("x"), &s);
        }
    }
}
