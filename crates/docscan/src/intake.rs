//! Image intake: PNG and JPEG bytes to a greyscale page, under hard limits, so that a
//! decompression bomb, a truncated upload or a stray PDF is a clear per-image error and never an
//! out-of-memory or a panic.
//!
//! Order of checks, cheapest first: byte size; format by magic bytes; the format's trailer (a PNG
//! must end with `IEND`, a JPEG with the `EOI` marker — decoders otherwise quietly pad a truncated
//! JPEG with grey); the declared width × height from the header (the bomb guard, before any pixel
//! is allocated); then the decode itself with `image::Limits` capping the decoder's allocations.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use crate::Error;

/// Hard limits for one scanned image. Defaults suit a 600 dpi A4 colour scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest encoded file accepted.
    pub max_bytes: usize,
    /// Largest width × height accepted (checked on the header, before decoding).
    pub max_pixels: u64,
    /// Largest width or height accepted.
    pub max_side: u32,
    /// Most memory the decoder may allocate, output buffer included.
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            // A4 at 600 dpi is 4961 x 7016 = 34.8 Mpx.
            max_pixels: 36_000_000,
            max_side: 10_000,
            max_alloc: 256 * 1024 * 1024,
        }
    }
}

/// A decoded page: its format and its luminance.
#[derive(Debug, Clone)]
pub struct Page {
    /// `"PNG"` or `"JPEG"`.
    pub format: &'static str,
    /// The page in 8-bit greyscale (QR decoding needs nothing more).
    pub luma: image::GrayImage,
}

/// Decodes `bytes` as a PNG or JPEG within `limits`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Page, Error> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::ImageTooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let (format, name) = match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => (ImageFormat::Png, "PNG"),
        Ok(ImageFormat::Jpeg) => (ImageFormat::Jpeg, "JPEG"),
        Ok(other) => {
            return Err(Error::UnsupportedFormat {
                detected: format!("{other:?}"),
            });
        }
        Err(_) => {
            return Err(Error::UnsupportedFormat {
                detected: sniff(bytes).to_string(),
            });
        }
    };
    check_trailer(format, name, bytes)?;

    let reader = |l: image::Limits| {
        let mut r = ImageReader::new(Cursor::new(bytes));
        r.set_format(format);
        r.limits(l);
        r
    };
    // Reading the header allocates nothing; it runs unlimited so that the declared size can be
    // reported as such rather than as a decoder limit.
    let (width, height) = reader(image::Limits::no_limits())
        .into_dimensions()
        .map_err(|e| map_error(name, limits, e))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(Error::TooManyPixels {
            format: name,
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_alloc);
    let img = reader(l).decode().map_err(|e| map_error(name, limits, e))?;
    Ok(Page {
        format: name,
        luma: img.into_luma8(),
    })
}

fn map_error(format: &'static str, limits: &Limits, e: image::ImageError) -> Error {
    use image::ImageError as E;
    match e {
        E::Limits(_) => Error::DecoderMemory {
            format,
            limit: limits.max_alloc,
        },
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Error::Truncated {
            format,
            detail: "the file ends inside the image data".into(),
        },
        other => {
            let detail = other.to_string();
            if detail.contains("end of file") || detail.contains("EOF") || detail.contains("eof") {
                Error::Truncated { format, detail }
            } else {
                Error::Corrupt { format, detail }
            }
        }
    }
}

/// A PNG ends with the `IEND` chunk; a JPEG with `FF D9`. Trailing padding that some scanners
/// add is tolerated by looking at the last kilobyte rather than the last bytes.
fn check_trailer(format: ImageFormat, name: &'static str, bytes: &[u8]) -> Result<(), Error> {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    let (needle, what): (&[u8], &str) = match format {
        ImageFormat::Png => (b"IEND", "no IEND chunk at the end of the file"),
        _ => (
            &[0xFF, 0xD9],
            "no end-of-image marker (FF D9) at the end of the file",
        ),
    };
    if tail.windows(needle.len()).any(|w| w == needle) {
        Ok(())
    } else {
        Err(Error::Truncated {
            format: name,
            detail: what.into(),
        })
    }
}

/// Names a few formats people upload by mistake, for the error message.
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [] => "empty file",
        [b'%', b'P', b'D', b'F', ..] => "PDF",
        [b'G', b'I', b'F', ..] => "GIF",
        [b'B', b'M', ..] => "BMP",
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => "TIFF",
        [b'R', b'I', b'F', b'F', ..] => "RIFF (WebP?)",
        b if b.iter().take(64).all(|c| c.is_ascii()) => "text",
        _ => "unknown",
    }
}
