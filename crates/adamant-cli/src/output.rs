//! Results on stdout. A write can fail (`adamant inspect f --json | head -1` closes the pipe):
//! every result line goes through [`outln!`], which returns the error instead of panicking,
//! and `main` ends quietly with status 0 when stdout was closed, as ripgrep does.

/// `println!` that returns an error naming stdout instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| anyhow::Error::new(e).context("cannot write to stdout"))
    }};
}
pub(crate) use outln;

/// `eprintln!` that ignores a closed or failing stderr: a message that cannot be shown is no
/// reason to stop, or to panic.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use errln;

/// Whether `err` comes from writing to a closed stdout.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
