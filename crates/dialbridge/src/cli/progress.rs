//! The resume state of `calls export`: `<out>.progress`, a small JSON file written atomically
//! (temp file + rename) after each page has been appended to the output and flushed. It records
//! the output's length at that point, so a resumed run first cuts off whatever a crashed run
//! appended after its last progress write: no line is ever exported twice.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CliError;

/// Where an export stands; `since` is `--since` in ms since the epoch, `until` when the
/// export started: every page asks for calls started before it, so calls that end during the
/// export (or between a stop and a resume) cannot shift the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub account: String,
    pub since: Option<i64>,
    pub until: i64,
    /// The cursor of the next page (absent once the last page is written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    pub pages: u64,
    pub calls: u64,
    /// The output file's length in bytes after the last recorded page.
    pub bytes: u64,
}

impl Progress {
    pub fn new(account: &str, since: Option<i64>, until: i64) -> Self {
        Progress {
            account: account.to_owned(),
            since,
            until,
            cursor: None,
            pages: 0,
            calls: 0,
            bytes: 0,
        }
    }
}

/// `calls.jsonl` → `calls.jsonl.progress`.
pub fn progress_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// The saved progress, if there is a progress file.
pub fn load(path: &Path) -> Result<Option<Progress>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io(path, e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        CliError::Resume(format!(
            "{} is damaged ({e}); pass --restart to start the export over",
            path.display()
        ))
    })
}

/// Replaces the progress file atomically: a crash leaves the old one or the new one.
pub fn save(path: &Path, progress: &Progress) -> Result<(), CliError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let json = serde_json::to_vec_pretty(progress)
        .map_err(|e| CliError::Resume(format!("cannot encode the progress: {e}")))?;
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(&json)?;
        file.sync_all()
    };
    write().map_err(|e| CliError::io(&temp, e))?;
    std::fs::rename(&temp, path).map_err(|e| CliError::io(path, e))
}

/// Removes the progress file (and a stray temp file), ignoring ones that are not there.
pub fn remove(path: &Path) -> Result<(), CliError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    for file in [path.to_owned(), PathBuf::from(temp)] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CliError::io(file, e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The output opened for appending: empty for a fresh export, cut back to `bytes` to resume.
pub fn open_output(out: &Path, resume_at: Option<u64>) -> Result<File, CliError> {
    let io = |e| CliError::io(out, e);
    let Some(bytes) = resume_at else {
        return File::create(out).map_err(io);
    };
    let file = OpenOptions::new().write(true).open(out).map_err(|e| {
        CliError::Resume(format!(
            "cannot resume: {} ({e}); pass --restart to start the export over",
            out.display()
        ))
    })?;
    let length = file.metadata().map_err(io)?.len();
    if length < bytes {
        return Err(CliError::Resume(format!(
            "cannot resume: {} has {length} bytes but the progress file recorded {bytes}; \
             pass --restart to start the export over",
            out.display()
        )));
    }
    file.set_len(bytes).map_err(io)?;
    drop(file);
    OpenOptions::new().append(true).open(out).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_is_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("calls.jsonl");
        let path = progress_path(&out);
        assert_eq!(path, dir.path().join("calls.jsonl.progress"));
        assert_eq!(load(&path).unwrap(), None);
        let mut progress = Progress::new("acme", Some(1_700_000_000_000), 1_800_000_000_000);
        progress.cursor = Some("c1".into());
        progress.pages = 1;
        progress.calls = 10;
        progress.bytes = 1234;
        save(&path, &progress).unwrap();
        assert_eq!(load(&path).unwrap(), Some(progress.clone()));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for field in [
            "account", "since", "until", "cursor", "pages", "calls", "bytes",
        ] {
            assert!(json.get(field).is_some(), "{field} in {json}");
        }
        progress.cursor = None;
        save(&path, &progress).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().cursor, None);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left behind");
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(load(&path).unwrap(), None);
    }

    #[test]
    fn a_damaged_progress_file_asks_for_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.progress");
        std::fs::write(&path, "{not json").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("--restart"), "{err}");
    }

    #[test]
    fn resuming_cuts_what_a_crash_appended_after_the_last_progress_write() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("calls.jsonl");
        std::fs::write(&out, "{\"a\":1}\n{\"b\":2}\n{\"half").unwrap();
        let mut file = open_output(&out, Some(16)).unwrap();
        file.write_all(b"{\"c\":3}\n").unwrap();
        drop(file);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        let err = open_output(&out, Some(1000)).unwrap_err();
        assert!(err.to_string().contains("--restart"), "{err}");
        let err = open_output(&dir.path().join("gone.jsonl"), Some(0)).unwrap_err();
        assert!(err.to_string().contains("--restart"), "{err}");
        drop(open_output(&out, None).unwrap());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "",
            "a fresh export starts empty"
        );
    }
}
