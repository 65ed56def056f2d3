//! The crate's one error type. Image errors become per-image reasons in a [`crate::ScanReport`];
//! trust-list and register errors are returned to whoever loads those files (CLI, server).

/// Everything that can go wrong in docscan, with what a user needs to find the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The encoded image is larger than the byte limit.
    #[error("image is {size} bytes, over the limit of {limit} bytes")]
    ImageTooLarge {
        /// Size of the file.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// Not a PNG or JPEG file.
    #[error("image is not PNG or JPEG (detected: {detected})")]
    UnsupportedFormat {
        /// What the magic bytes look like, or "unknown".
        detected: String,
    },
    /// The file ends before the image does.
    #[error("{format} image is truncated: {detail}")]
    Truncated {
        /// PNG or JPEG.
        format: &'static str,
        /// What is missing.
        detail: String,
    },
    /// The header declares more pixels than allowed: the decompression-bomb guard.
    #[error(
        "{format} image declares {width}x{height} = {pixels} pixels, over the limit of {limit} \
         (decompression bomb or oversized scan)"
    )]
    TooManyPixels {
        /// PNG or JPEG.
        format: &'static str,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// Configured limit.
        limit: u64,
    },
    /// The decoder would need more memory than allowed.
    #[error("{format} decoder needs more than {limit} bytes of memory")]
    DecoderMemory {
        /// PNG or JPEG.
        format: &'static str,
        /// Configured allocation limit.
        limit: u64,
    },
    /// The decoder refused the data.
    #[error("{format} image is corrupt: {detail}")]
    Corrupt {
        /// PNG or JPEG.
        format: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The trust list is not valid TOML of the expected shape.
    #[error("trust list: {message}")]
    TrustListSyntax {
        /// The parser's message, with line and column.
        message: String,
    },
    /// One issuer entry of the trust list is unusable.
    #[error("trust list issuer '{issuer}': field '{field}': {message}")]
    TrustListIssuer {
        /// The issuer id.
        issuer: String,
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The issued-visa register CSV could not be read.
    #[error("visa register line {line}: {message}")]
    RegisterSyntax {
        /// 1-based line in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// One field of a register row is invalid.
    #[error("visa register line {line}, field '{field}': {message}")]
    RegisterField {
        /// 1-based line in the file.
        line: u64,
        /// The column name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}
