//! `dialbridge action run <key> --account <id> [--input …]` runs one action for an account and
//! prints its output as pretty JSON; `dialbridge action list` prints the action catalog.

use std::io::Read;
use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::client::{ApiArgs, Client};
use super::error::{json_kind, CliError, InputError};

/// `dialbridge action …`
#[derive(Args, Debug)]
pub struct ActionCommand {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ActionSubcommand,
}

#[derive(Subcommand, Debug)]
enum ActionSubcommand {
    /// Run an action for an account and print its output.
    Run(RunArgs),
    /// List the actions the server offers.
    List,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The action's key, e.g. list_users (see `dialbridge action list`).
    key: String,
    /// The account to run it for (the vendor's id).
    #[arg(long)]
    account: String,
    /// The input object: inline JSON, @FILE to read a file, or - to read standard input.
    #[arg(long, value_name = "JSON|@FILE|-", allow_hyphen_values = true)]
    input: Option<String>,
}

pub async fn run(command: ActionCommand) -> Result<(), CliError> {
    match command.command {
        ActionSubcommand::Run(args) => {
            let input = parse_input(args.input.as_deref(), std::io::stdin())?;
            let client = Client::new(&command.api)?;
            let path = ["api", "v1", "accounts", &args.account, "actions", &args.key];
            let answer = client.post(&path, &Value::Object(input)).await?;
            let output = answer.get("output").ok_or_else(|| {
                CliError::BadResponse("no `output` in the action's answer".into())
            })?;
            println!("{}", pretty(output));
            Ok(())
        }
        ActionSubcommand::List => {
            let client = Client::new(&command.api)?;
            let answer = client.get(&["api", "v1", "actions"]).await?;
            print!("{}", table(&answer)?);
            Ok(())
        }
    }
}

/// The `--input` value as an object: absent is `{}`; `@path` reads a file; `-` reads `stdin`.
pub fn parse_input(
    raw: Option<&str>,
    mut stdin: impl Read,
) -> Result<Map<String, Value>, InputError> {
    let Some(raw) = raw else {
        return Ok(Map::new());
    };
    let (origin, text) = if raw == "-" {
        let mut text = String::new();
        stdin.read_to_string(&mut text).map_err(InputError::Stdin)?;
        ("standard input".to_owned(), text)
    } else if let Some(path) = raw.strip_prefix('@') {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Unreadable {
            path: Path::new(path).to_owned(),
            source,
        })?;
        (format!("the file {path}"), text)
    } else {
        ("the value".to_owned(), raw.to_owned())
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(InputError::NotObject {
            origin,
            found: json_kind(&other),
        }),
        Err(error) => Err(InputError::NotJson { origin, error }),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// KEY / NAME / SCOPES columns for the catalog (`[{key, name, required_scopes, …}]`).
pub fn table(answer: &Value) -> Result<String, CliError> {
    let items = answer
        .as_array()
        .ok_or_else(|| CliError::BadResponse("the action list is not an array".into()))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let mut rows = vec![["KEY".to_owned(), "NAME".to_owned(), "SCOPES".to_owned()]];
    for item in items {
        let scopes = item
            .get("required_scopes")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let scopes = if scopes.is_empty() {
            "-".to_owned()
        } else {
            scopes
        };
        rows.push([text(item.get("key")), text(item.get("name")), scopes]);
    }
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (key_width, name_width) = (width(0), width(1));
    let mut out = String::new();
    for [key, name, scopes] in &rows {
        out.push_str(&format!(
            "{key:<key_width$}  {name:<name_width$}  {scopes}\n"
        ));
    }
    if items.is_empty() {
        out.push_str("(no actions)\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn input_defaults_to_an_empty_object_and_reads_inline_files_and_stdin() {
        assert!(parse_input(None, std::io::empty()).unwrap().is_empty());
        assert_eq!(
            parse_input(Some(r#"{"limit":2}"#), std::io::empty()).unwrap()["limit"],
            2
        );
        let stdin = br#"{"from":"stdin"}"#;
        assert_eq!(parse_input(Some("-"), &stdin[..]).unwrap()["from"], "stdin");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.json");
        std::fs::write(&file, r#"{"from":"file"}"#).unwrap();
        let arg = format!("@{}", file.display());
        assert_eq!(
            parse_input(Some(&arg), std::io::empty()).unwrap()["from"],
            "file"
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = parse_input(Some("{nope"), std::io::empty()).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = parse_input(Some("[1,2]"), std::io::empty()).unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
        assert!(err.to_string().contains("an array"), "{err}");
        let err = parse_input(Some("@/no/such/file.json"), std::io::empty()).unwrap_err();
        assert!(
            err.to_string().contains("cannot read /no/such/file.json"),
            "{err}"
        );
        let err = parse_input(Some("-"), &b"42"[..]).unwrap_err();
        assert!(
            err.to_string()
                .contains("standard input must be a JSON object"),
            "{err}"
        );
        assert_eq!(CliError::from(err).exit_code(), 2);
    }

    #[test]
    fn the_table_aligns_keys_names_and_scopes() {
        let answer = json!([
            {"key": "list_calls", "name": "List calls", "required_scopes": ["calls:list"]},
            {"key": "send_sms", "name": "Send an SMS", "required_scopes": []},
        ]);
        let text = table(&answer).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "KEY         NAME         SCOPES");
        assert_eq!(lines[1], "list_calls  List calls   calls:list");
        assert_eq!(lines[2], "send_sms    Send an SMS  -");
        assert!(table(&json!([])).unwrap().contains("(no actions)"));
        assert!(table(&json!({"items": 3})).is_err());
    }
}
