//! Whether `crates/dialbridge/link-order.txt` still names the functions of the executable
//! measured. The file is written for one build (README, "Idle memory"); after a toolchain or
//! dependency change most of its names no longer exist, the linker ignores them, and an idle
//! `serve` maps about 6 MiB more of its code with no other sign. Row 7 says how many match.

use std::collections::HashSet;
use std::path::Path;

use crate::report::Row;

/// The order file as it was when this bench was built.
const ORDER: &str = include_str!("../../dialbridge/link-order.txt");

/// Below this share of names found, the row says the file is stale.
const STALE_BELOW: f64 = 0.9;

/// Row 7's line on the order file, from the symbols `nm` lists for `bin`.
pub async fn row(bin: &Path) -> Row {
    let what = "link order: functions of `crates/dialbridge/link-order.txt` the executable defines";
    let listed = tokio::process::Command::new("nm")
        .arg("--defined-only")
        .arg(bin)
        .output()
        .await;
    let symbols = match listed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => return Row::not_run("7", what, format!("nm failed: {}", out.status)),
        Err(e) => return Row::not_run("7", what, format!("nm (binutils) could not run: {e}")),
    };
    let (found, named) = coverage(ORDER, &symbols);
    let share = if named == 0 {
        0.0
    } else {
        found as f64 / named as f64
    };
    let verdict = if share < STALE_BELOW {
        "; stale: run scripts/link-order.py, then build again"
    } else {
        ""
    };
    Row::new(
        "7",
        what,
        format!("{found} of {named}{verdict}"),
        "a file written for this build: all of them".into(),
        format!("×{share:.2}"),
    )
}

/// How many of the order file's names are among the defined symbols `nm` listed, and how
/// many names the file has.
fn coverage(order: &str, nm_output: &str) -> (usize, usize) {
    let defined: HashSet<&str> = nm_output
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .collect();
    let names: Vec<&str> = order
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let found = names.iter().filter(|name| defined.contains(*name)).count();
    (found, names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_names_nm_lists_as_defined() {
        let order = "# comment\n_ZN3foo3bar\n_RNvCs1_3baz\n\n_ZN4gone\n";
        let nm = "0000000000001000 T _ZN3foo3bar\n0000000000002000 t _RNvCs1_3baz\n0000000000003000 T _ZN5other\n";
        assert_eq!(coverage(order, nm), (2, 3));
        assert_eq!(coverage(order, ""), (0, 3));
        assert_eq!(coverage("", nm), (0, 0));
    }

    #[test]
    fn the_file_it_was_built_with_names_functions() {
        assert!(coverage(ORDER, "").1 > 1000);
    }
}
