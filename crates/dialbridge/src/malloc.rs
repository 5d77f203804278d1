//! glibc's malloc, set up before any thread starts.
//!
//! By default glibc gives threads up to eight malloc arenas per core, each keeping its own free
//! memory; `serve`'s threads (the runtime's workers, one per SQLite connection, the log
//! writer) each took one. One arena per core is enough for them: on this 2-core machine the
//! bench's idle `serve` held 0.6–1.2 MiB less and its peak under ingest 2.5 MiB less, for the
//! same CPU per request (BENCHMARKS.md, "Idle memory"). `MALLOC_ARENA_MAX` or glibc's
//! tunables, when set, are left to decide.

/// Caps the arenas at one per core, unless the environment already says how many.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn one_arena_per_core() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() || tunables.contains("arena_max") {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes no pointers; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn one_arena_per_core() {}
