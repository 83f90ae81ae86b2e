//! Parsing of user-supplied relation names and source texts.
//!
//! A `source` argument is either a relation name (optionally schema-qualified, quoted or not) or a
//! query. Names are parsed here, never spliced into SQL: anything that is not a well-formed name and
//! does not start like a query is refused before the server sees it.

use crate::{Error, Result};

/// A possibly schema-qualified relation name, already case-folded as PostgreSQL would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    /// The name quoted for safe use in SQL text.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

/// What a `source` argument denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Relation(QualifiedName),
    Query(String),
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A name as an error message shows it: quoted, and cut after 64 characters (a hostile 10 kB
/// name must not become a 10 kB message).
pub fn quote_shown(s: &str) -> String {
    const SHOWN: usize = 64;
    match s.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", quote_literal(&s[..cut])),
        None => quote_literal(s),
    }
}

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes).
pub const MAX_IDENT_BYTES: usize = 63;

fn starts_like_query(text: &str) -> bool {
    let t = text.trim_start().trim_start_matches('(').trim_start();
    let lower: String = t.chars().take(7).collect::<String>().to_ascii_lowercase();
    let word_end = |n: usize| {
        t.chars()
            .nth(n)
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == '*')
    };
    (lower.starts_with("select") && word_end(6)) || (lower.starts_with("with") && word_end(4))
}

pub fn parse_source(text: &str) -> Result<Source> {
    if text.trim().is_empty() {
        return Err(Error::InvalidName("source must not be empty".into()));
    }
    if starts_like_query(text) {
        return Ok(Source::Query(
            text.trim().trim_end_matches(';').trim_end().to_string(),
        ));
    }
    parse_qualified_name(text)
        .map(Source::Relation)
        .map_err(|_| {
            Error::InvalidName(format!(
                "source {} is neither a table or view name nor a SELECT query",
                quote_shown(text)
            ))
        })
}

/// Parses `name`, `schema.name`, with `"quoted"` parts allowed.
pub fn parse_qualified_name(text: &str) -> Result<QualifiedName> {
    let mut parts = Vec::new();
    let chars: Vec<char> = text.trim().chars().collect();
    let mut i = 0;
    let invalid = || {
        Error::InvalidName(format!(
            "{} is not a valid relation name",
            quote_shown(text)
        ))
    };
    loop {
        let mut part = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err(invalid());
                }
                if chars[i] == '"' {
                    if i + 1 < chars.len() && chars[i + 1] == '"' {
                        part.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                part.push(chars[i]);
                i += 1;
            }
            if part.is_empty() {
                return Err(invalid());
            }
        } else {
            if i >= chars.len() || !(chars[i].is_alphabetic() || chars[i] == '_') {
                return Err(invalid());
            }
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                part.extend(chars[i].to_lowercase());
                i += 1;
            }
        }
        if part.len() > MAX_IDENT_BYTES {
            return Err(Error::InvalidName(format!(
                "identifier {} is longer than {MAX_IDENT_BYTES} bytes",
                quote_shown(&part)
            )));
        }
        parts.push(part);
        if i == chars.len() {
            break;
        }
        if chars[i] != '.' {
            return Err(invalid());
        }
        i += 1;
    }
    match parts.len() {
        1 => Ok(QualifiedName {
            schema: None,
            name: parts.pop().unwrap(),
        }),
        2 => {
            let name = parts.pop().unwrap();
            Ok(QualifiedName {
                schema: parts.pop(),
                name,
            })
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_are_quoted_and_cut() {
        assert_eq!(quote_shown("it's"), "'it''s'");
        let long = "ü".repeat(10_000);
        let shown = quote_shown(&long);
        assert_eq!(shown, format!("'{}'…", "ü".repeat(64)));
    }

    #[test]
    fn plain_and_qualified_names() {
        assert_eq!(
            parse_source("Events").unwrap(),
            Source::Relation(QualifiedName {
                schema: None,
                name: "events".into()
            })
        );
        let q = parse_qualified_name("mkt_demo.\"My \"\"T\"").unwrap();
        assert_eq!(q.schema.as_deref(), Some("mkt_demo"));
        assert_eq!(q.name, "My \"T");
        assert_eq!(q.quoted(), "\"mkt_demo\".\"My \"\"T\"");
    }

    #[test]
    fn queries_are_recognised() {
        assert!(matches!(parse_source("  SELECT 1"), Ok(Source::Query(_))));
        assert!(
            matches!(parse_source("with x as (select 1) select * from x;"), Ok(Source::Query(q)) if !q.ends_with(';'))
        );
        assert!(matches!(parse_source("(select 1)"), Ok(Source::Query(_))));
        // a table whose name merely starts with "select" is a name
        assert!(matches!(
            parse_source("selections"),
            Ok(Source::Relation(_))
        ));
    }

    #[test]
    fn injections_are_not_names() {
        for bad in [
            "events; DROP TABLE x",
            "events --",
            "a.b.c.d",
            "\"unterminated",
            "x\"",
            "",
            "1abc",
            "events)",
            "delete from events",
        ] {
            assert!(parse_source(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn long_identifiers_are_refused() {
        assert!(parse_qualified_name(&"a".repeat(64)).is_err());
        assert!(parse_qualified_name(&"a".repeat(63)).is_ok());
    }
}
