//! What this machine offers a run: CPUs for `--threads`, memory for what a run will allocate.
//! Both are checked before any work starts, so that a bad value is refused with a message that
//! says what to give instead, not found out by a crash or a crawl.

#![deny(clippy::arithmetic_side_effects)]

use anyhow::{bail, Result};

/// The CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `--threads N`: from 1 to the CPUs this process may use (more threads than CPUs only wait for
/// each other).
pub fn parse_threads(text: &str) -> Result<usize, String> {
    let threads: usize = text.parse().map_err(|_| format!("{text:?} is not a whole number"))?;
    let cpus = cpus();
    if (1..=cpus).contains(&threads) {
        Ok(threads)
    } else {
        Err(format!("this machine gives this process {cpus} CPUs; give 1 to {cpus}"))
    }
}

/// The memory available to new allocations now (Linux's `MemAvailable`), if known.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses `what` when it needs more than the available memory; `bytes` is `None` when its size
/// does not even fit in 64 bits. `instead` says what to do.
pub fn check_memory(what: &str, bytes: Option<u64>, instead: &str) -> Result<()> {
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    match (bytes, available_bytes()) {
        (None, _) => bail!("{what} needs more memory than 64 bits can count; {instead}"),
        (Some(needed), Some(available)) if needed > available => bail!(
            "{what} needs {:.1} GiB of memory and this machine has {:.1} GiB available; {instead}",
            gib(needed),
            gib(available)
        ),
        _ => Ok(()),
    }
}

/// Starts a new peak of this process's resident memory (Linux: `VmHWM` restarts from the
/// current resident size); false where the system cannot.
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak resident memory of this process since it started or since
/// [`reset_peak_memory`], in bytes (Linux's `VmHWM`), if known.
pub fn peak_memory_bytes() -> Option<u64> {
    proc_bytes("/proc/self/status", "VmHWM:")
}

/// This process's anonymous memory on transparent huge pages, in bytes (Linux's
/// `AnonHugePages`), if known.
pub fn huge_page_bytes() -> Option<u64> {
    proc_bytes("/proc/self/smaps_rollup", "AnonHugePages:")
}

/// The figure of the line starting with `key` in the `/proc` file at `path` (`key  123 kB`), in
/// bytes.
fn proc_bytes(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_range_from_one_to_the_cpus() {
        assert_eq!(parse_threads("1"), Ok(1));
        assert!(parse_threads("0").unwrap_err().contains("give 1 to"));
        assert!(parse_threads("100000").unwrap_err().contains("give 1 to"));
        assert!(parse_threads("two").unwrap_err().contains("not a whole number"));
    }

    #[test]
    fn memory_beyond_what_is_available_is_refused() {
        assert!(check_memory("a test", Some(1), "never mind").is_ok());
        let err = check_memory("a test", Some(u64::MAX), "use less").unwrap_err().to_string();
        assert!(err.starts_with("a test needs") && err.ends_with("; use less"), "{err}");
        assert!(check_memory("a test", None, "use less").is_err());
    }
}
