//! Whether `crates/dialbridge/link-order.txt` still fits the executable measured. The file is
//! written for one build (README, "Idle memory"), and it goes stale two ways, both of which
//! cost an idle `serve` MiBs of mapped code with no other sign:
//! - after a toolchain or dependency change most of its names no longer exist and the linker
//!   ignores them (`coverage`: how many of its names the executable defines);
//! - after new or rewritten code on the start-up and idle path, every name may still exist
//!   while functions that run are not among them. Each such function lies among code that
//!   does not run, and the kernel maps that code around it. `stray_code` counts the pages of
//!   code an idle process has mapped that hold none of the file's functions.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::report::{mib, Row};

/// The order file as it was when this bench was built.
const ORDER: &str = include_str!("../../dialbridge/link-order.txt");

/// Below this share of names found, the row says the file is stale.
const STALE_BELOW: f64 = 0.9;

/// Above this much mapped code holding none of the file's functions, the row says the file is
/// stale. With a file written for the build it is 0.2–0.4 MiB (the kernel's read-around past
/// the end of the ordered code, and assembly the order cannot split); a file that missed 34 of
/// the functions an idle `serve` runs showed 1.3–2.2 MiB.
const STRAY_STALE_ABOVE: u64 = 1 << 20;

const PAGE: u64 = 4096;

/// The executable's symbols as `nm --defined-only -S` lists them, or why they could not be
/// listed.
pub async fn symbols(bin: &Path) -> Result<String, String> {
    let listed = tokio::process::Command::new("nm")
        .arg("--defined-only")
        .arg("-S")
        .arg(bin)
        .output()
        .await;
    match listed {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!("nm failed: {}", out.status)),
        Err(e) => Err(format!("nm (binutils) could not run: {e}")),
    }
}

/// Row 7's line on how many of the order file's names the executable defines.
pub fn row(symbols: &Result<String, String>) -> Row {
    let what = "link order: functions of `crates/dialbridge/link-order.txt` the executable defines";
    let symbols = match symbols {
        Ok(symbols) => symbols,
        Err(why) => return Row::not_run("7", what, why),
    };
    let (found, named) = coverage(ORDER, symbols);
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

/// Row 7's line on the code process `pid` (running `bin`) has mapped that holds none of the
/// order file's functions: what the file missed, laid out among code that never runs.
pub fn stray_code(symbols: &Result<String, String>, bin: &Path, pid: u32) -> Row {
    let what = "link order: code of the executable idle `serve` maps that holds none of the file's functions";
    let symbols = match symbols {
        Ok(symbols) => symbols,
        Err(why) => return Row::not_run("7", what, why),
    };
    let resident = match resident_code_pages(bin, pid) {
        Ok(pages) => pages,
        Err(why) => return Row::not_run("7", what, why),
    };
    let ordered = ordered_pages(ORDER, symbols);
    let stray = resident
        .iter()
        .filter(|page| !ordered.contains(page))
        .count() as u64
        * PAGE;
    let verdict = if stray > STRAY_STALE_ABOVE {
        "; stale: run scripts/link-order.py, then build again"
    } else {
        ""
    };
    Row::new(
        "7",
        what,
        format!(
            "{} of the {} of code it maps{verdict}",
            mib(stray),
            mib(resident.len() as u64 * PAGE)
        ),
        format!(
            "a file written for this build: under {}",
            mib(STRAY_STALE_ABOVE)
        ),
        format!("×{:.2}", stray as f64 / STRAY_STALE_ABOVE as f64),
    )
}

/// How many of the order file's names are among the defined symbols `nm` listed, and how
/// many names the file has.
fn coverage(order: &str, nm_output: &str) -> (usize, usize) {
    let defined: HashSet<&str> = nm_output
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    let names = names(order);
    let found = names.iter().filter(|name| defined.contains(*name)).count();
    (found, names.len())
}

fn names(order: &str) -> HashSet<&str> {
    order
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// The pages (by link-time address) that hold some of a function the order file names, from
/// `nm --defined-only -S` lines: `address size type name`.
fn ordered_pages(order: &str, nm_output: &str) -> HashSet<u64> {
    let names = names(order);
    let mut pages = HashSet::new();
    for line in nm_output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [address, size, kind, name] = fields[..] else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") || !names.contains(name) {
            continue;
        }
        let (Ok(address), Ok(size)) = (
            u64::from_str_radix(address, 16),
            u64::from_str_radix(size, 16),
        ) else {
            continue;
        };
        let last = address + size.max(1) - 1;
        pages.extend(address / PAGE..=last / PAGE);
    }
    pages
}

/// The pages (by link-time address) of `bin`'s code that process `pid` has resident, from
/// its `/proc` maps and page map.
fn resident_code_pages(bin: &Path, pid: u32) -> Result<Vec<u64>, String> {
    let bin = std::fs::canonicalize(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| format!("/proc/{pid}/maps: {e}"))?;
    let (base, code) = code_mappings(&maps, &bin.to_string_lossy())
        .ok_or_else(|| format!("/proc/{pid}/maps does not map {}", bin.display()))?;
    let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap"))
        .map_err(|e| format!("/proc/{pid}/pagemap: {e}"))?;
    let mut pages = Vec::new();
    for (start, end) in code {
        let mut entries = vec![0u8; ((end - start) / PAGE * 8) as usize];
        pagemap
            .seek(SeekFrom::Start(start / PAGE * 8))
            .and_then(|_| pagemap.read_exact(&mut entries))
            .map_err(|e| format!("/proc/{pid}/pagemap: {e}"))?;
        for (i, entry) in entries.chunks_exact(8).enumerate() {
            let entry = u64::from_le_bytes(entry.try_into().expect("chunks of 8"));
            if entry >> 63 == 1 {
                pages.push((start - base) / PAGE + i as u64);
            }
        }
    }
    Ok(pages)
}

/// From a `/proc/<pid>/maps` text, where the position-independent executable at `path` is
/// loaded (the start of its mapping at file offset 0, which holds link-time address 0) and
/// its executable mappings, as runtime address ranges.
fn code_mappings(maps: &str, path: &str) -> Option<(u64, Vec<(u64, u64)>)> {
    let mut base = None;
    let mut code = Vec::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, perms, offset, _, _, mapped, ..] = fields[..] else {
            continue;
        };
        if mapped != path {
            continue;
        }
        let (start, end) = range.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        if u64::from_str_radix(offset, 16).ok()? == 0 {
            base = Some(start);
        }
        if perms.contains('x') {
            code.push((start, end));
        }
    }
    Some((base?, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_names_nm_lists_as_defined() {
        let order = "# comment\n_ZN3foo3bar\n_RNvCs1_3baz\n\n_ZN4gone\n";
        let nm = "0000000000001000 0000000000000010 T _ZN3foo3bar\n0000000000002000 t _RNvCs1_3baz\n0000000000003000 0000000000000010 T _ZN5other\n";
        assert_eq!(coverage(order, nm), (2, 3));
        assert_eq!(coverage(order, ""), (0, 3));
        assert_eq!(coverage("", nm), (0, 0));
    }

    #[test]
    fn the_pages_of_ordered_functions_are_those_their_bytes_touch() {
        let order = "_ZN3big\n_ZN5small\n_ZN4data\n";
        let nm = "\
0000000000001ff0 0000000000001020 T _ZN3big
0000000000005000 0000000000000010 t _ZN5small
0000000000007000 0000000000000010 T _ZN5other
0000000000009000 0000000000000010 R _ZN4data
";
        let pages = ordered_pages(order, nm);
        // 0x1ff0..0x3010 touches pages 1, 2 and 3; small is on page 5; data is not code.
        let mut sorted: Vec<u64> = pages.into_iter().collect();
        sorted.sort();
        assert_eq!(sorted, [1, 2, 3, 5]);
    }

    #[test]
    fn the_code_mappings_are_the_executables_with_x() {
        let maps = "\
55d000000000-55d0007ae000 r--p 00000000 fd:00 42 /opt/dialbridge
55d0007af000-55d001e91000 r-xp 007ae000 fd:00 42 /opt/dialbridge
55d001e92000-55d001f29000 rw-p 01e90000 fd:00 42 /opt/dialbridge
7f0000000000-7f0000100000 r-xp 00000000 fd:00 7 /usr/lib/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";
        let (base, code) = code_mappings(maps, "/opt/dialbridge").expect("mapped");
        assert_eq!(base, 0x55d0_0000_0000);
        assert_eq!(code, [(0x55d0_007a_f000, 0x55d0_01e9_1000)]);
        assert!(code_mappings(maps, "/opt/other").is_none());
    }

    #[test]
    fn the_file_it_was_built_with_names_functions() {
        assert!(coverage(ORDER, "").1 > 1000);
    }
}
