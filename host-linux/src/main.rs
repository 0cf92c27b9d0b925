//! `douyu`: watch, serve, demo and decode Douyu danmaku.

fn main() -> std::process::ExitCode {
    douyu_host::cli::main()
}
