//! `douyu`: watch, serve, demo and decode Douyu danmaku.

/// The allocator: see the `jemalloc` feature in `Cargo.toml` for why.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    douyu_host::cli::main()
}
