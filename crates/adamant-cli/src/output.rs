//! Results on stdout. A write can fail (`adamant inspect f --json | head -1` closes the pipe):
//! every result line goes through [`outln!`], which returns the error instead of panicking,
//! and `main` ends quietly with status 0 when stdout was closed, as ripgrep does.

/// `println!` that returns the write's `io::Result` instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use outln;

/// Whether `err` comes from writing to a closed stdout.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
