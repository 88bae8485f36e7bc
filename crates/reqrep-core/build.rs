//! Compiles `proto/reqrep/v1/*.proto` (kept inside this crate so it packages) with protox (pure Rust, no `protoc`)
//! and generates the prost types into `OUT_DIR`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    let files = [
        "reqrep/v1/status.proto",
        "reqrep/v1/header.proto",
        "reqrep/v1/discovery.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let fds = protox::compile(files, [&root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
