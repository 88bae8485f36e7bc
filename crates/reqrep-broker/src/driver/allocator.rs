//! Returning free heap memory to the OS.
//!
//! glibc's malloc keeps freed memory in its arenas for reuse and returns
//! only the free top of each heap (and large blocks, which it maps on their
//! own). After a burst, much of what the broker's queue held (payload
//! copies, smaller tables, and libzmq's receive buffers, which libzmq's I/O
//! thread allocates in an arena of its own) is free but spread between
//! chunks still in use: in the memory probe (`reqrep-bench --only memory`),
//! 100 000 queued requests left about 45 % of their growth resident after
//! draining, 12 MiB held by glibc of which 0.3 MiB in use. `malloc_trim(0)`
//! gives back every whole free page of every arena: 2 to 3 % was left.
//! Other allocators and platforms: nothing to do here.

#![allow(unsafe_code)]

/// Returns free memory to the OS; whether any was returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(super) fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and touches only glibc's
    // own arenas, each under its lock, so it may run on any thread
    // while others allocate.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Returns free memory to the OS; whether any was returned.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn trim() -> bool {
    false
}
