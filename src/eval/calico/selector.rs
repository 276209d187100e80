//! Calico's selector language (ENGINES.md 4.2), parsed for real: `k == 'v'`, `k != 'v'`,
//! `k in {…}`, `k not in {…}`, `has(k)`, `k contains|starts with|ends with 's'`, `!`, `&&`,
//! `||`, parentheses, `all()`, `global()`. Precedence: match ops, then `!`, `&&`, `||`.

use std::collections::BTreeMap;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;
/// Calico's own limit on a selector's length.
const MAX_LENGTH: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sel {
    All,
    Global,
    Has(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Sel>),
    And(Box<Sel>, Box<Sel>),
    Or(Box<Sel>, Box<Sel>),
}

/// What a selector is matched against: labels, and whether the thing is global
/// (non-namespaced: a GlobalNetworkSet, a host endpoint).
pub struct Subject<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub global: bool,
    /// One more label, ahead of `labels`: a namespace's `projectcalico.org/name`, without
    /// copying the namespace's labels to add it.
    pub extra: Option<(&'a str, &'a str)>,
}

impl Sel {
    /// A label pair that every label set this selector matches has, if there is one (for
    /// indexing policies by the pods they may select).
    pub(crate) fn required_pair(&self) -> Option<(&str, &str)> {
        match self {
            Sel::Eq(k, v) => Some((k, v)),
            Sel::And(a, b) => a.required_pair().or_else(|| b.required_pair()),
            _ => None,
        }
    }

    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let get = |k: &str| match s.extra {
            Some((key, value)) if key == k => Some(value),
            _ => s.labels.get(k).map(String::as_str),
        };
        match self {
            Sel::All => true,
            Sel::Global => s.global,
            Sel::Has(k) => get(k).is_some(),
            Sel::Eq(k, v) => get(k) == Some(v.as_str()),
            Sel::Ne(k, v) => get(k) != Some(v.as_str()),
            Sel::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Sel::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Sel::Contains(k, v) => get(k).is_some_and(|x| x.contains(v.as_str())),
            Sel::StartsWith(k, v) => get(k).is_some_and(|x| x.starts_with(v.as_str())),
            Sel::EndsWith(k, v) => get(k).is_some_and(|x| x.ends_with(v.as_str())),
            Sel::Not(a) => !a.matches(s),
            Sel::And(a, b) => a.matches(s) && b.matches(s),
            Sel::Or(a, b) => a.matches(s) || b.matches(s),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Not,
    And,
    Or,
    EqEq,
    NotEq,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            '{' => {
                out.push(Token::LBrace);
                i += 1;
            }
            '}' => {
                out.push(Token::RBrace);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '!' if next == Some('=') => {
                out.push(Token::NotEq);
                i += 2;
            }
            '!' => {
                out.push(Token::Not);
                i += 1;
            }
            '&' if next == Some('&') => {
                out.push(Token::And);
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push(Token::Or);
                i += 2;
            }
            '=' if next == Some('=') => {
                out.push(Token::EqEq);
                i += 2;
            }
            '\'' | '"' => {
                let end = chars
                    .iter()
                    .skip(i + 1)
                    .position(|x| *x == c)
                    .ok_or_else(|| format!("unterminated string at column {}", i + 1))?;
                out.push(Token::Str(chars.iter().skip(i + 1).take(end).collect()));
                i += end + 2;
            }
            c if c.is_ascii_alphanumeric() || "_./-".contains(c) => {
                let len = chars
                    .iter()
                    .skip(i)
                    .take_while(|x| x.is_ascii_alphanumeric() || "_./-".contains(**x))
                    .count();
                out.push(Token::Ident(chars.iter().skip(i).take(len).collect()));
                i += len;
            }
            other => return Err(format!("unexpected `{other}` at column {}", i + 1)),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// Parse a selector; the empty string is `all()`.
pub fn parse(text: &str) -> Result<Sel, String> {
    if text.len() > MAX_LENGTH {
        return Err(format!("a selector is at most {MAX_LENGTH} characters"));
    }
    if text.trim().is_empty() {
        return Ok(Sel::All);
    }
    let mut p = Parser { tokens: tokens(text)?, at: 0, depth: 0 };
    let sel = p.or()?;
    match p.peek() {
        None => Ok(sel),
        Some(t) => Err(format!("unexpected {t:?} after a complete selector")),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(format!("nested more than {MAX_DEPTH} deep")) } else { Ok(()) }
    }

    fn or(&mut self) -> Result<Sel, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Sel::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Sel, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Sel::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Sel, String> {
        if self.peek() == Some(&Token::Not) {
            self.at += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Sel::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a quoted string, found {other:?}")),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        self.expect(&Token::LBrace)?;
        let mut values = Vec::new();
        if self.peek() == Some(&Token::RBrace) {
            self.at += 1;
            return Ok(values);
        }
        loop {
            values.push(self.string()?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::RBrace) => return Ok(values),
                other => return Err(format!("expected `,` or `}}`, found {other:?}")),
            }
        }
    }

    fn primary(&mut self) -> Result<Sel, String> {
        match self.next() {
            Some(Token::LParen) => {
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.expect(&Token::RParen)?;
                Ok(inner)
            }
            Some(Token::Ident(word)) => {
                let call = self.peek() == Some(&Token::LParen);
                match word.as_str() {
                    "all" | "global" if call => {
                        self.at += 1;
                        self.expect(&Token::RParen)?;
                        Ok(if word == "all" { Sel::All } else { Sel::Global })
                    }
                    "has" if call => {
                        self.at += 1;
                        let key = match self.next() {
                            Some(Token::Ident(k)) => k,
                            other => return Err(format!("has() takes a label key, found {other:?}")),
                        };
                        self.expect(&Token::RParen)?;
                        Ok(Sel::Has(key))
                    }
                    _ => self.operation(word),
                }
            }
            other => Err(format!("expected a label, `(`, `!`, all(), global() or has(), found {other:?}")),
        }
    }

    fn operation(&mut self, key: String) -> Result<Sel, String> {
        match self.next() {
            Some(Token::EqEq) => Ok(Sel::Eq(key, self.string()?)),
            Some(Token::NotEq) => Ok(Sel::Ne(key, self.string()?)),
            Some(Token::Ident(op)) => match op.as_str() {
                "in" => Ok(Sel::In(key, self.set()?)),
                "not" => {
                    match self.next() {
                        Some(Token::Ident(w)) if w == "in" => {}
                        other => return Err(format!("expected `in` after `not`, found {other:?}")),
                    }
                    Ok(Sel::NotIn(key, self.set()?))
                }
                "contains" => Ok(Sel::Contains(key, self.string()?)),
                "starts" | "ends" => {
                    match self.next() {
                        Some(Token::Ident(w)) if w == "with" => {}
                        other => return Err(format!("expected `with` after `{op}`, found {other:?}")),
                    }
                    let v = self.string()?;
                    Ok(if op == "starts" { Sel::StartsWith(key, v) } else { Sel::EndsWith(key, v) })
                }
                other => Err(format!("unknown operator `{other}` after `{key}`")),
            },
            other => Err(format!("expected an operator after `{key}`, found {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(sel: &str, labels: &[(&str, &str)]) -> bool {
        let labels: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(sel).expect("parses").matches(&Subject { labels: &labels, global: false, extra: None })
    }

    #[test]
    fn every_operator() {
        let l = [("app", "web"), ("tier", "front-end"), ("projectcalico.org/namespace", "shop")];
        assert!(m("app == 'web'", &l) && m("app == \"web\"", &l));
        assert!(m("app != 'db'", &l) && m("missing != 'x'", &l) && !m("app != 'web'", &l));
        assert!(m("app in {'db', 'web'}", &l) && !m("app in {}", &l) && !m("missing in {'x'}", &l));
        assert!(m("app not in {'db'}", &l) && m("missing not in {'x'}", &l) && !m("app not in {'web'}", &l));
        assert!(m("has(tier)", &l) && !m("has(missing)", &l));
        assert!(
            m("tier contains 'nt-e'", &l)
                && m("tier starts with 'front'", &l)
                && m("tier ends with 'end'", &l)
        );
        assert!(m("all()", &l) && m("", &l) && !m("global()", &l));
        assert!(m("projectcalico.org/namespace == 'shop'", &l));
    }

    #[test]
    fn precedence_and_parentheses() {
        let l = [("a", "1")];
        // `!` binds tighter than `&&`, which binds tighter than `||`.
        assert!(m("!has(b) && a == '1'", &l));
        assert!(m("has(b) && has(c) || a == '1'", &l));
        assert!(!m("has(b) && (has(c) || a == '1')", &l));
        assert!(!m("!(a == '1' || has(b))", &l));
        assert!(m("!!has(a)", &l));
        assert_eq!(
            parse("a == 'x' || b == 'y' && !has(c)").expect("parses"),
            Sel::Or(
                Box::new(Sel::Eq("a".into(), "x".into())),
                Box::new(Sel::And(
                    Box::new(Sel::Eq("b".into(), "y".into())),
                    Box::new(Sel::Not(Box::new(Sel::Has("c".into()))))
                ))
            )
        );
    }

    #[test]
    fn errors_and_deep_nesting() {
        for bad in [
            "app ==",
            "app = 'x'",
            "has(",
            "(a == 'x'",
            "a == 'x')",
            "a in {'x'",
            "a == 'x' b",
            "a ~ 'x'",
            "'x'",
            "a == 'unterminated",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "(".repeat(100) + "all()" + &")".repeat(100);
        assert!(parse(&deep).is_err());
        let nots = "!".repeat(500) + "all()";
        assert!(parse(&nots).is_err());
        assert!(parse(&"a".repeat(2000)).is_err());
    }
}
