//! The checkpost gRPC contract: the generated messages, clients and servers of
//! `proto/checkpost/v1`, and the encoded descriptor set for gRPC reflection.
//!
//! This crate owns the wire types; the rest of checkpost converts them into domain types at the
//! server edge and never passes prost structs further in.

/// `checkpost.v1`: the generated code. Every message and field is documented in the `.proto`
/// files, and those comments are carried into the generated docs.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod v1 {
    tonic::include_proto!("checkpost.v1");
}

/// The encoded `FileDescriptorSet` of the contract, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/checkpost_descriptor.bin"));
