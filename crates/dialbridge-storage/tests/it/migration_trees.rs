//! The two hand-kept migration trees, `migrations/postgres` and `migrations/sqlite`, describe one
//! schema: they hold the same files, and each pair has the same statements once the few type
//! spellings in `TYPE_SPELLINGS`, letter case, whitespace and `--`/`/* */` comments are set
//! aside. Anything else that differs (a column, an index, a constraint, a default, a quoted
//! literal) fails the test, which prints the first differing statement of each side. The files
//! in `DIALECT_SPECIFIC` are the exceptions, each with the reason it cannot be one text.

use std::fs;
use std::path::Path;

/// PostgreSQL's spelling of a type and SQLite's, for the types the trees use. Each entry is a
/// difference the test stops seeing, so keep the table short (an entry no migration uses fails
/// the test). Only PostgreSQL words are rewritten: a PostgreSQL `INTEGER` (32 bits) still
/// differs from an SQLite `BIGINT`.
const TYPE_SPELLINGS: &[(&str, &str)] = &[
    // 64-bit integers: SQLite's INTEGER is 64 bits.
    ("BIGINT", "INTEGER"),
    // Bytes (the AES-256-GCM ciphertext of secrets).
    ("BYTEA", "BLOB"),
];

/// Migrations that differ between the dialects on purpose, and why. Both trees still hold them.
const DIALECT_SPECIFIC: &[(&str, &str)] = &[(
    "20261202000031_daily_partitions.sql",
    "PostgreSQL moves events, executions, steps and deliveries into daily partitions (SQLite has \
     none); SQLite rebuilds its events table without the unique key event_dedupe now holds",
)];

#[test]
fn the_sqlite_and_postgres_trees_differ_only_in_type_spellings() {
    // The comparison sees through spellings and case, but not through a renamed column, a
    // changed default or a changed literal.
    assert_eq!(
        compare(
            "CREATE TABLE t (a BIGINT NOT NULL DEFAULT 0, b BYTEA);",
            "create table t (\n  a integer not null default 0, -- note\n  b blob\n);"
        ),
        Ok(())
    );
    for sqlite in [
        "CREATE TABLE t (c INTEGER NOT NULL DEFAULT 0);",
        "CREATE TABLE t (a INTEGER NOT NULL DEFAULT 1);",
        "CREATE TABLE t (a INTEGER NOT NULL DEFAULT 0); CREATE INDEX t_a ON t (a);",
    ] {
        assert!(compare("CREATE TABLE t (a BIGINT NOT NULL DEFAULT 0);", sqlite).is_err());
    }
    assert!(compare(
        "CREATE TABLE t (a TEXT DEFAULT 'x');",
        "CREATE TABLE t (a TEXT DEFAULT 'X');"
    )
    .is_err());

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = file_names(&root.join("postgres"));
    assert!(!names.is_empty(), "no migrations in {}", root.display());
    assert_eq!(
        names,
        file_names(&root.join("sqlite")),
        "migrations/postgres and migrations/sqlite must hold the same files"
    );

    let mut divergences = Vec::new();
    let mut spellings_used = vec![false; TYPE_SPELLINGS.len()];
    for (name, _) in DIALECT_SPECIFIC {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is listed as dialect-specific but is not a migration"
        );
    }
    for name in &names {
        if DIALECT_SPECIFIC.iter().any(|(n, _)| n == name) {
            continue;
        }
        let postgres = read(&root.join("postgres").join(name));
        let sqlite = read(&root.join("sqlite").join(name));
        for statement in statements(&postgres, false) {
            for (used, (spelling, _)) in spellings_used.iter_mut().zip(TYPE_SPELLINGS) {
                *used |= statement.tokens.iter().any(|token| token == spelling);
            }
        }
        if let Err(divergence) = compare(&postgres, &sqlite) {
            divergences.push(format!("{name}: {divergence}"));
        }
    }
    assert!(
        divergences.is_empty(),
        "the migration trees differ in more than type spellings:\n\n{}",
        divergences.join("\n\n")
    );
    for (used, (postgres, sqlite)) in spellings_used.iter().zip(TYPE_SPELLINGS) {
        assert!(
            used,
            "no PostgreSQL migration uses {postgres}: remove ({postgres:?}, {sqlite:?}) from TYPE_SPELLINGS"
        );
    }
}

/// `Ok` when the two files have the same statements after normalising; otherwise the first
/// differing statement of each side, and where they part.
fn compare(postgres: &str, sqlite: &str) -> Result<(), String> {
    let postgres = statements(postgres, true);
    let sqlite = statements(sqlite, false);
    let Some(i) = (0..postgres.len().max(sqlite.len()))
        .find(|&i| tokens(postgres.get(i)) != tokens(sqlite.get(i)))
    else {
        return Ok(());
    };
    let (p, s) = (postgres.get(i), sqlite.get(i));
    let same = tokens(p)
        .iter()
        .zip(tokens(s))
        .take_while(|(a, b)| a == b)
        .count();
    let at = |statement| tokens(statement).get(same).map_or("(end)", String::as_str);
    Err(format!(
        "statement {} differs at `{}` (postgres, normalised) vs `{}` (sqlite), after `{}`\n\
         --- postgres\n{}\n--- sqlite\n{}",
        i + 1,
        at(p),
        at(s),
        tokens(p)[same.saturating_sub(6)..same].join(" "),
        text(p),
        text(s)
    ))
}

fn tokens(statement: Option<&Statement>) -> &[String] {
    statement.map_or(&[], |s| &s.tokens)
}

fn text(statement: Option<&Statement>) -> &str {
    statement.map_or("(none: the file has no more statements)", |s| &s.text)
}

struct Statement {
    /// As written, from its first token to its `;`.
    text: String,
    /// Words upper-cased (and, on the PostgreSQL side, respelled by `TYPE_SPELLINGS`); quoted
    /// literals and identifiers verbatim; each other character a token of its own.
    tokens: Vec<String>,
}

/// Splits `sql` into statements at each `;` outside quotes, skipping whitespace and comments.
fn statements(sql: &str, respell: bool) -> Vec<Statement> {
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(sql.len(), |&(offset, _)| offset);
    let mut statements = Vec::new();
    let mut tokens = Vec::new();
    let mut start = None;
    let mut i = 0;
    while let Some(c) = at(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            i += 2;
        } else {
            let first = *start.get_or_insert(offset(i));
            let begin = i;
            if c == '\'' || c == '"' {
                // A literal or quoted identifier; a doubled quote is one quote inside it.
                i += 1;
                while let Some(d) = at(i) {
                    i += 1;
                    if d == c {
                        if at(i) == Some(c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                tokens.push(sql[offset(begin)..offset(i)].to_owned());
            } else if c.is_alphanumeric() || c == '_' {
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    i += 1;
                }
                let word = sql[offset(begin)..offset(i)].to_uppercase();
                let respelled = TYPE_SPELLINGS
                    .iter()
                    .find(|(postgres, _)| respell && word == *postgres)
                    .map(|(_, sqlite)| sqlite.to_string());
                tokens.push(respelled.unwrap_or(word));
            } else {
                i += 1;
                tokens.push(c.to_string());
                if c == ';' {
                    statements.push(Statement {
                        text: sql[first..offset(i)].to_owned(),
                        tokens: std::mem::take(&mut tokens),
                    });
                    start = None;
                }
            }
        }
    }
    if let Some(first) = start {
        statements.push(Statement {
            text: sql[first..].trim_end().to_owned(),
            tokens,
        });
    }
    statements
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
