//! The `douyu` command, built inside this package so that its integration
//! tests can run it by path (`CARGO_BIN_EXE_douyu-cli`); the code is the
//! same `douyu_host::cli` the real binary runs.

fn main() -> std::process::ExitCode {
    douyu_host::cli::main()
}
