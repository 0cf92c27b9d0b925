//! `include/douyu.h` is what cbindgen makes of the sources, byte for byte.
//!
//! Regenerate it after changing the API:
//! `DOUYU_BLESS=1 cargo test -p douyu-c --test header`.

use std::path::Path;

#[test]
fn the_checked_in_header_is_generated_from_the_sources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not read the crate")
        .write(&mut generated);
    let path = dir.join("include/douyu.h");
    if std::env::var_os("DOUYU_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/douyu.h");
        return;
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/douyu.h differs from what the sources generate; run\n    \
         DOUYU_BLESS=1 cargo test -p douyu-c --test header\nand commit the header"
    );
}
