use std::process::ExitCode;

// Planning thousands of objects is allocation-bound: glibc's malloc took a third of a large
// plan's CPU time (perf, `cargo bench --bench reconcile`); mimalloc takes a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tandem::cli::main()
}
