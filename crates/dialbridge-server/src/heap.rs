//! `trim`: hands the memory malloc holds freed back to the OS. glibc keeps what was freed in
//! each thread's arena for later; after a one-off burst (start-up, a flood of connections) that
//! is most of a process's resident memory, and nothing reuses it.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own heaps under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
