//! The memory allocator's settings the controller runs with. glibc's malloc, left to its
//! defaults, keeps memory a long-running controller freed: after a large block is freed it
//! raises its mmap threshold (up to 32 MiB) and its trim threshold with it, so the next
//! selection of 100,000 users is carved from the heap and stays resident once dropped; and
//! each thread may take its own arena. Measured on a 100,000-user conversion (`make bench`,
//! same code): a peak RSS of 88 MiB with the defaults, 66 to 74 MiB over runs with
//! [`GLIBC_TUNABLES`] (at most two arenas alone: 85 MiB).
//!
//! glibc reads these settings only as a process starts, from the environment: the controller
//! sets them by executing itself again, once, when `GLIBC_TUNABLES` is not set. A value the
//! deployment sets (even empty) is kept as it is.

use std::ffi::OsString;

/// The environment variable glibc reads its tunables from.
pub const TUNABLES_VAR: &str = "GLIBC_TUNABLES";

/// At most two malloc arenas; blocks from 256 KiB on in their own mappings, returned when
/// freed (a fixed threshold, which glibc then no longer raises); free memory at the top of the
/// heap returned past 1 MiB.
pub const GLIBC_TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144:glibc.malloc.trim_threshold=1048576";

/// What [`tune`] did.
#[derive(Debug)]
pub enum Tuned {
    /// The environment already sets `GLIBC_TUNABLES` (this process, or the deployment).
    AlreadySet,
    /// Not a glibc build: nothing to set.
    NotGlibc,
    /// The process could not execute itself again: it goes on with glibc's defaults.
    Failed(std::io::Error),
}

/// Executes this process again with [`GLIBC_TUNABLES`] in its environment when it is not set
/// (returns only when it is set already, or the new execution failed). Call it before
/// anything else starts.
pub fn tune(args: impl IntoIterator<Item = OsString>) -> Tuned {
    if std::env::var_os(TUNABLES_VAR).is_some() {
        return Tuned::AlreadySet;
    }
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return Tuned::NotGlibc;
    }
    reexec(args)
}

#[cfg(unix)]
fn reexec(args: impl IntoIterator<Item = OsString>) -> Tuned {
    use std::os::unix::process::CommandExt as _;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Tuned::Failed(e),
    };
    // `exec` returns only on failure.
    let e = std::process::Command::new(exe)
        .args(args)
        .env(TUNABLES_VAR, GLIBC_TUNABLES)
        .exec();
    Tuned::Failed(e)
}

#[cfg(not(unix))]
fn reexec(_args: impl IntoIterator<Item = OsString>) -> Tuned {
    Tuned::NotGlibc
}
