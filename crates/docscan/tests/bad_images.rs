//! Images that cannot be read, or hold nothing checkpost can use, each give their own reason;
//! none panics or allocates without bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use checkpost_docscan::generate::{PageSize, Perturbation, encode_png, scan_image};
use checkpost_docscan::{Checks, Limits, ReasonCode, ScanReport, TrustList, scan};
use chrono::NaiveDate;

fn run(bytes: &[u8], limits: &Limits) -> ScanReport {
    let trust = TrustList::empty();
    let checks = Checks {
        trust: &trust,
        register: None,
        mrz: None,
        today: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    };
    scan(bytes, limits, &checks)
}

fn reasons(r: &ScanReport) -> Vec<ReasonCode> {
    r.all_reasons().map(|r| r.code).collect()
}

fn page(payload: &str, class: Perturbation) -> Vec<u8> {
    scan_image(payload, PageSize::Small, class, 11)
}

#[test]
fn a_truncated_png_is_truncated() {
    let bytes = page("hello", Perturbation::Clean);
    let r = run(&bytes[..bytes.len() / 2], &Limits::default());
    assert!(!r.completed);
    assert_eq!(reasons(&r), [ReasonCode::ImageTruncated]);
    assert_eq!(r.format.as_deref(), Some("PNG"));
}

#[test]
fn a_truncated_jpeg_is_truncated() {
    let bytes = page("hello", Perturbation::Jpeg);
    assert_eq!(&bytes[..2], [0xFF, 0xD8]);
    let r = run(&bytes[..bytes.len() * 2 / 3], &Limits::default());
    assert_eq!(reasons(&r), [ReasonCode::ImageTruncated]);
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    // A valid 1x1 PNG whose header is rewritten to claim 60000 x 60000 pixels (3.6 Gpx).
    let mut png = encode_png(&image::GrayImage::new(1, 1));
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let r = run(&png, &Limits::default());
    assert_eq!(
        reasons(&r),
        [ReasonCode::ImageTooManyPixels],
        "{:?}",
        r.reasons
    );
    assert!(r.reasons[0].message.contains("60000x60000"));
}

#[test]
fn a_decoder_over_its_memory_budget_is_refused() {
    let bytes = page("hello", Perturbation::Clean);
    let limits = Limits {
        max_alloc: 100_000,
        ..Limits::default()
    };
    assert_eq!(
        reasons(&run(&bytes, &limits)),
        [ReasonCode::ImageDecoderMemory]
    );
}

#[test]
fn an_oversized_file_is_refused_by_size() {
    let bytes = page("hello", Perturbation::Clean);
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(reasons(&run(&bytes, &limits)), [ReasonCode::ImageTooLarge]);
}

#[test]
fn other_formats_are_unsupported_and_named() {
    for (bytes, name) in [
        (&b"%PDF-1.7\n%\xe2\xe3"[..], "PDF"),
        (&b"GIF89a\x01\x00\x01\x00"[..], "Gif"),
        (&b"just some text"[..], "text"),
        (&b""[..], "empty"),
    ] {
        let r = run(bytes, &Limits::default());
        assert_eq!(reasons(&r), [ReasonCode::ImageUnsupportedFormat]);
        assert!(
            r.reasons[0].message.contains(name),
            "{}",
            r.reasons[0].message
        );
    }
}

#[test]
fn a_corrupt_png_is_corrupt() {
    let mut bytes = page("hello", Perturbation::Clean);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5A;
    }
    let r = run(&bytes, &Limits::default());
    assert!(!r.completed);
    assert_eq!(reasons(&r), [ReasonCode::ImageCorrupt]);
}

#[test]
fn a_page_without_a_qr_code_says_so() {
    let blank = encode_png(&image::GrayImage::from_pixel(640, 480, image::Luma([230])));
    let r = run(&blank, &Limits::default());
    assert!(r.completed);
    assert_eq!(reasons(&r), [ReasonCode::NoQrCode]);
}

#[test]
fn a_qr_code_with_garbage_is_unrecognized_and_broken_json_is_a_malformed_seal() {
    let r = run(
        &page("lorem ipsum ~~ 0xDEADBEEF", Perturbation::Clean),
        &Limits::default(),
    );
    assert_eq!(reasons(&r), [ReasonCode::QrUnrecognized]);
    assert_eq!(r.codes[0].payload, "lorem ipsum ~~ 0xDEADBEEF");
    let r = run(
        &page("{\"data\": [1, 2", Perturbation::Clean),
        &Limits::default(),
    );
    assert_eq!(reasons(&r), [ReasonCode::SealMalformed]);
}

#[test]
fn every_report_names_the_image_by_its_blake3_digest() {
    let bytes = b"not an image";
    assert_eq!(
        run(bytes, &Limits::default()).digest,
        blake3::hash(bytes).to_hex().to_string()
    );
}

/// CRC-32 (IEEE) for the rewritten PNG header chunk.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
