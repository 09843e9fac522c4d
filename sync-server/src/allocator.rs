//! How the server's allocator (glibc's malloc) holds memory.
//!
//! A sync loads documents, builds sync messages and projections, and frees
//! them again: most of it short-lived, much of it tens or hundreds of KB.
//! With glibc's defaults, a freed large block raises the threshold above
//! which blocks are mapped on their own, so later large blocks come from
//! the heap, and the heap, fragmented by the small long-lived blocks
//! between them, is not given back: the W2 catch-up peaked at 107-150 MB
//! resident over a live heap of about 22 MB (docs/bench.md). Here blocks
//! of 64 KiB and more are always mapped on their own (and unmapped when
//! freed), free memory at the top of the heap goes back past 64 KiB, and
//! the threads share two arenas rather than up to eight per core, each
//! holding its own free memory (W2: 45-47 MB).
//!
//! An operator's own `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` or
//! `MALLOC_ARENA_MAX` (glibc's environment variables) is left as set;
//! `GLIBC_TUNABLES` for the same three is overridden.

/// Blocks at least this large are mapped on their own.
const MMAP_THRESHOLD: i32 = 64 * 1024;
/// Free memory at the top of the heap past this goes back to the system.
const TRIM_THRESHOLD: i32 = 64 * 1024;
/// Arenas the threads share (one was as small and slower: W2 1.66 s
/// against 1.46 s).
const ARENAS: i32 = 2;

/// Sets the thresholds; call first thing in `main`, before any thread.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (var, param, value) in [
        ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
    ] {
        if std::env::var_os(var).is_none() {
            // SAFETY: mallopt only sets the allocator's parameters; it is
            // called before the program starts any thread.
            #[allow(unsafe_code)]
            unsafe {
                libc::mallopt(param, value);
            }
        }
    }
}
