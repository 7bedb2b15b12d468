//! Tokens with line and column, from Cypher text.

use crate::error::{CypherError, Result};

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword; `quoted` for backtick names, which are never keywords.
    Ident { text: String, quoted: bool },
    /// An integer literal, kept as text so the parser can range-check it with its sign.
    Int(String),
    /// A float literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// `$name` or `$0`.
    Param(String),
    /// Punctuation and operators.
    Sym(&'static str),
    /// End of input.
    Eof,
}

/// A token with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Byte offset of the first character.
    pub offset: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
}

// Arrows are not tokens: `a<-1` is a comparison, so the pattern parser assembles `<-`,
// `->` and `--` from single symbols.
const SYMBOLS: [&str; 28] = [
    "..", "<>", "!=", "<=", ">=", "=~", "+=", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "|", "+", "-", "*",
    "/", "%", "^", "=", "<", ">", "!",
];

/// Splits `text` into tokens. The last token is [`Tok::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<Token>> {
    Lexer { text, pos: 0, line: 1, column: 1 }.run()
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    column: u32,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> CypherError {
        CypherError::syntax(self.line, self.column, message)
    }

    fn run(mut self) -> Result<Vec<Token>> {
        let mut out = Vec::new();
        loop {
            self.skip_trivia()?;
            let (offset, line, column) = (self.pos, self.line, self.column);
            let Some(c) = self.peek() else {
                out.push(Token { tok: Tok::Eof, offset, end: offset, line, column });
                return Ok(out);
            };
            let tok = if c.is_alphabetic() || c == '_' {
                Tok::Ident { text: self.word(), quoted: false }
            } else if c == '`' {
                Tok::Ident { text: self.backtick()?, quoted: true }
            } else if c.is_ascii_digit() || (c == '.' && self.peek2().is_some_and(|d| d.is_ascii_digit())) {
                self.number()?
            } else if c == '\'' || c == '"' {
                Tok::Str(self.string(c)?)
            } else if c == '$' {
                self.bump();
                match self.peek() {
                    Some(c) if c.is_alphanumeric() || c == '_' => Tok::Param(self.word()),
                    Some('`') => Tok::Param(self.backtick()?),
                    _ => return Err(self.error("expected a parameter name after '$'")),
                }
            } else {
                let rest = &self.text[self.pos..];
                let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                    let e = self.error(format!("unexpected character '{c}'"));
                    // Dashes and minus signs from other scripts are a common paste error.
                    let dash = matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' | '\u{ff0d}' | '\u{00ad}');
                    return Err(if dash { e.with_code("InvalidUnicodeCharacter") } else { e });
                };
                for _ in 0..sym.len() {
                    self.bump();
                }
                Tok::Sym(sym)
            };
            out.push(Token { tok, offset, end: self.pos, line, column });
        }
    }

    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let (line, column) = (self.line, self.column);
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(), self.peek2()) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => return Err(CypherError::syntax(line, column, "unterminated comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        self.text[start..self.pos].to_owned()
    }

    fn backtick(&mut self) -> Result<String> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                Some('`') if self.peek() == Some('`') => {
                    self.bump();
                    out.push('`');
                }
                Some('`') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err(CypherError::syntax(line, column, "unterminated quoted name")),
            }
        }
    }

    fn number(&mut self) -> Result<Tok> {
        let start = self.pos;
        let rest = &self.text[self.pos..];
        if rest.starts_with("0x") || rest.starts_with("0o") {
            self.bump();
            self.bump();
            while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                self.bump();
            }
            return Ok(Tok::Int(self.text[start..self.pos].to_owned()));
        }
        let mut float = false;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = (self.pos, self.line, self.column);
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            } else {
                (self.pos, self.line, self.column) = save;
            }
        }
        // A number running into letters (`1a`, `0_1`) is malformed.
        if self.peek().is_some_and(|c| c.is_alphabetic() || c == '_') {
            let bad = self.peek().is_some_and(|c| c.is_alphabetic() || c == '_');
            let e = self.error("invalid number literal");
            return Err(if bad { e.with_code("InvalidNumberLiteral") } else { e });
        }
        let text = &self.text[start..self.pos];
        if float {
            let value: f64 = text.parse().map_err(|_| self.error("invalid float literal"))?;
            if !value.is_finite() {
                return Err(self.error("float literal out of range").with_code("FloatingPointOverflow"));
            }
            Ok(Tok::Float(value))
        } else {
            Ok(Tok::Int(text.to_owned()))
        }
    }

    fn string(&mut self, quote: char) -> Result<String> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(CypherError::syntax(line, column, "unterminated string")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => {
                    let c = self.bump().ok_or_else(|| CypherError::syntax(line, column, "unterminated string"))?;
                    match c {
                        '\\' | '\'' | '"' => out.push(c),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' | 'U' => {
                            let n = if c == 'u' { 4 } else { 8 };
                            let mut code = 0u32;
                            for _ in 0..n {
                                let d = self.bump().and_then(|d| d.to_digit(16));
                                let d = d.ok_or_else(|| {
                                    self.error("invalid unicode escape").with_code("InvalidUnicodeLiteral")
                                })?;
                                code = code * 16 + d;
                            }
                            out.push(char::from_u32(code).ok_or_else(|| {
                                self.error("invalid unicode escape").with_code("InvalidUnicodeLiteral")
                            })?);
                        }
                        _ => return Err(self.error(format!("invalid escape '\\{c}'"))),
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        let toks = tokenize("MATCH (a)\n  -[:T*1..3]->(b)").unwrap();
        assert_eq!(toks[0].tok, Tok::Ident { text: "MATCH".into(), quoted: false });
        let arrow = toks.iter().find(|t| t.tok == Tok::Sym("-")).unwrap();
        assert_eq!((arrow.line, arrow.column), (2, 3));
        assert!(toks.iter().any(|t| t.tok == Tok::Sym("..")));
        assert!(toks.iter().any(|t| t.tok == Tok::Sym(">")));
    }

    #[test]
    fn literals() {
        assert_eq!(kinds("1.5e3")[0], Tok::Float(1500.0));
        assert_eq!(kinds(".5")[0], Tok::Float(0.5));
        assert_eq!(kinds("0x1F")[0], Tok::Int("0x1F".into()));
        assert_eq!(kinds(r"'a\'b\u0041'")[0], Tok::Str("a'bA".into()));
        assert_eq!(kinds("`we ``ird`")[0], Tok::Ident { text: "we `ird".into(), quoted: true });
        assert_eq!(kinds("$x")[0], Tok::Param("x".into()));
        assert_eq!(kinds("1..2")[..3], [Tok::Int("1".into()), Tok::Sym(".."), Tok::Int("2".into())]);
    }

    #[test]
    fn errors_have_positions() {
        let err = tokenize("RETURN\n 'abc").unwrap_err();
        assert_eq!(err.position(), Some((2, 2)));
        assert!(tokenize("RETURN 1a").is_err());
        assert!(tokenize("/* open").is_err());
    }
}
