//! Compiles `proto/checkpost/v1/*.proto` with `protox` (a pure-Rust protobuf compiler), so a
//! fresh machine builds with cargo alone — no system `protoc`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["common", "screening", "review", "watchlists"]
        .map(|name| root.join(format!("checkpost/v1/{name}.proto")));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // The encoded descriptor set also feeds the gRPC reflection service.
    std::fs::write(out.join("checkpost_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
