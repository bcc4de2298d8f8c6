use std::process::ExitCode;

// Planning thousands of objects is allocation-bound: glibc's malloc took a third of a large
// plan's CPU time (perf, `cargo bench --bench reconcile`); mimalloc takes a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`tandem plan | head`) would panic;
    // the default action ends the process quietly instead, as `cat` or `grep` do.
    #[cfg(unix)]
    // SAFETY: called before any thread starts; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tandem::cli::main()
}
