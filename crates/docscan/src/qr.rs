//! Finding every QR code in a scanned page, with its four corners in page pixels.
//!
//! # Why a cascade, rxing first
//! Measured on generated visa pages (`examples/decoder_table.rs`; table in BENCHMARKS.md), at
//! 1250x880, 30 pages per perturbation class:
//! - plain rqrr reads about 80% of pages and misses most pages skewed by more than a few
//!   degrees and half the perspective ones; with Otsu and adaptive thresholding about 93%, at
//!   40–70 ms a page (its binarization is global, and its finder search is slow on a busy page);
//! - rxing (the zxing-cpp port, hybrid local binarizer) reads every class except low contrast at
//!   100% in 3–12 ms, but only 17–40% of faint pages: its binarizer treats low-range blocks as
//!   flat. Stretching the grey levels on a miss fixes that (100%);
//! - the cascade — rxing with contrast stretch, then rqrr with thresholding on a miss, then both
//!   at full resolution for a downscaled page — reads 100% with rxing's speed, since rqrr only
//!   runs on a miss. rqrr stays as an independent second opinion for pages rxing cannot read.
//!
//! Pages with a side over [`MAX_SIDE`] pixels are downscaled by a whole factor first (box
//! average): a visa's QR code is big enough that a 1250-pixel page still gives it 3–4 pixels a
//! module, and binarizing a 400 dpi page costs four times as much for nothing.

use std::collections::HashSet;

use image::GrayImage;
use rxing::multi::MultipleBarcodeReader;

/// Pages larger than this (either side) are decoded downscaled first.
pub const MAX_SIDE: u32 = 1400;

/// A pixel position in the scanned image (origin top-left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
}

/// One QR code found in a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QrCode {
    /// The decoded text.
    pub payload: String,
    /// The code's corners in page pixels: the code's own top-left first, then clockwise as seen
    /// on the page (top-right, bottom-right, bottom-left for an upright code).
    pub corners: [Point; 4],
}

/// Which decoder to run; [`Decoder::Cascade`] is what [`find`] uses. The others exist so the
/// choice can be measured (`examples/decoder_table.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoder {
    /// rxing (zxing-cpp port) on a hybrid binarizer.
    Rxing,
    /// rxing, retried on a contrast-stretched page.
    RxingStretched,
    /// rqrr on the plain greyscale page.
    Rqrr,
    /// rqrr, retried on an Otsu-thresholded and then an adaptively thresholded page.
    RqrrPrepared,
    /// rxing (with contrast stretch), then rqrr with thresholding on a miss, then both at full
    /// resolution when the page was downscaled.
    Cascade,
}

impl Decoder {
    /// Every decoder, for comparisons.
    pub const ALL: [Decoder; 5] = [
        Self::Rxing,
        Self::RxingStretched,
        Self::Rqrr,
        Self::RqrrPrepared,
        Self::Cascade,
    ];

    /// A short name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rxing => "rxing",
            Self::RxingStretched => "rxing+stretch",
            Self::Rqrr => "rqrr",
            Self::RqrrPrepared => "rqrr+threshold",
            Self::Cascade => "cascade",
        }
    }
}

/// Every QR code in `page`, found with the chosen cascade.
pub fn find(page: &GrayImage) -> Vec<QrCode> {
    find_with(page, Decoder::Cascade)
}

/// Every QR code in `page`, found with `decoder`.
pub fn find_with(page: &GrayImage, decoder: Decoder) -> Vec<QrCode> {
    let (w, h) = page.dimensions();
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let small = downscale(page);
    let work = small.as_ref().map_or(page, |(img, _)| img);
    let scale = small.as_ref().map_or(1.0, |(_, s)| *s);
    let found = match decoder {
        Decoder::Rxing => rxing_find(work, true),
        Decoder::RxingStretched => rxing_stretched(work),
        Decoder::Rqrr => rqrr_find(work),
        Decoder::RqrrPrepared => rqrr_prepared(work),
        Decoder::Cascade => {
            let mut codes = rxing_stretched(work);
            if codes.is_empty() {
                codes = rqrr_prepared(work);
            }
            if codes.is_empty() && small.is_some() {
                // The downscale may have merged modules; the full page is the last resort.
                let mut full = rxing_stretched(page);
                if full.is_empty() {
                    full = rqrr_prepared(page);
                }
                return full;
            }
            codes
        }
    };
    if scale == 1.0 {
        found
    } else {
        found
            .into_iter()
            .map(|mut c| {
                for p in &mut c.corners {
                    p.x = (f64::from(p.x) * scale).round() as i32;
                    p.y = (f64::from(p.y) * scale).round() as i32;
                }
                c
            })
            .collect()
    }
}

/// The page shrunk by the smallest whole factor that brings its longer side to at most
/// [`MAX_SIDE`], averaging each k×k block (a box filter: what a scanner at the lower resolution
/// would have seen), and the factor back to page coordinates; `None` when it is small enough.
/// Written here rather than `image::imageops::resize`, whose general float filter costs about
/// ten times as much for this integer case.
fn downscale(page: &GrayImage) -> Option<(GrayImage, f64)> {
    let (w, h) = page.dimensions();
    let side = w.max(h);
    if side <= MAX_SIDE {
        return None;
    }
    let k = side.div_ceil(MAX_SIDE) as usize;
    let (nw, nh) = (w as usize / k, h as usize / k);
    if nw == 0 || nh == 0 {
        return None;
    }
    let src = page.as_raw();
    let stride = w as usize;
    let area = (k * k) as u32;
    let mut out = vec![0u8; nw * nh];
    let mut sums = vec![0u32; nw];
    for (oy, out_row) in out.chunks_exact_mut(nw).enumerate() {
        sums.fill(0);
        for row in src[oy * k * stride..].chunks(stride).take(k) {
            for (sum, block) in sums.iter_mut().zip(row.chunks_exact(k)) {
                *sum += block.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        for (o, sum) in out_row.iter_mut().zip(&sums) {
            *o = (sum / area) as u8;
        }
    }
    let img = GrayImage::from_raw(nw as u32, nh as u32, out)?;
    Some((img, k as f64))
}

/// The corners in one order whatever the decoder: starting from the decoder's first corner (the
/// code's own top-left), going clockwise as seen on the page. rxing and rqrr list them in
/// different orders.
fn clockwise(mut c: [Point; 4]) -> [Point; 4] {
    let cx = c.iter().map(|p| f64::from(p.x)).sum::<f64>() / 4.0;
    let cy = c.iter().map(|p| f64::from(p.y)).sum::<f64>() / 4.0;
    let angle = |p: &Point| (f64::from(p.y) - cy).atan2(f64::from(p.x) - cx);
    let start = angle(&c[0]);
    // Image y grows downward, so increasing atan2 is clockwise on the page.
    let turn = |p: &Point| (angle(p) - start).rem_euclid(std::f64::consts::TAU);
    c[1..].sort_by(|a, b| turn(a).total_cmp(&turn(b)));
    c
}

fn rxing_find(img: &GrayImage, try_harder: bool) -> Vec<QrCode> {
    let (w, h) = img.dimensions();
    let Ok(source) = rxing::Luma8Source::new_with_slice(img.as_raw(), w, h) else {
        return Vec::new();
    };
    let mut bitmap = rxing::BinaryBitmap::new(rxing::common::HybridBinarizer::new(source));
    let hints = rxing::DecodeHints {
        PossibleFormats: Some(HashSet::from([rxing::BarcodeFormat::QR_CODE])),
        TryHarder: Some(try_harder),
        ..Default::default()
    };
    let mut reader = rxing::qrcode::cpp_port::QrReader;
    let Ok(results) = reader.decode_multiple_with_hints(&mut bitmap, &hints) else {
        return Vec::new();
    };
    results
        .iter()
        .map(|r| {
            let pts = r.getPoints();
            let corner = |i: usize| {
                pts.get(i)
                    .or(pts.last())
                    .map_or(Point { x: 0, y: 0 }, |p| Point {
                        x: p.x.round() as i32,
                        y: p.y.round() as i32,
                    })
            };
            QrCode {
                payload: r.getText().to_string(),
                corners: clockwise([corner(0), corner(1), corner(2), corner(3)]),
            }
        })
        .collect()
}

fn rxing_stretched(img: &GrayImage) -> Vec<QrCode> {
    // A quick pass (finder-pattern search on every few rows) reads most pages; the thorough pass
    // scans every row.
    let mut codes = rxing_find(img, false);
    if codes.is_empty() {
        codes = rxing_find(img, true);
    }
    if !codes.is_empty() {
        return codes;
    }
    // A faint scan: the hybrid binarizer treats low-range blocks as flat, so stretch the grey
    // levels to the full range and try again.
    stretch_contrast(img).map_or(codes, |s| rxing_find(&s, true))
}

fn rqrr_find(img: &GrayImage) -> Vec<QrCode> {
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.as_raw()[y * w as usize + x]
        });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| {
            let (_, payload) = g.decode().ok()?;
            let c = |i: usize| Point {
                x: g.bounds[i].x,
                y: g.bounds[i].y,
            };
            Some(QrCode {
                payload,
                corners: clockwise([c(0), c(1), c(2), c(3)]),
            })
        })
        .collect()
}

fn rqrr_prepared(img: &GrayImage) -> Vec<QrCode> {
    let plain = rqrr_find(img);
    if !plain.is_empty() {
        return plain;
    }
    let otsu = threshold_otsu(img);
    let codes = rqrr_find(&otsu);
    if !codes.is_empty() {
        return codes;
    }
    rqrr_find(&threshold_adaptive(img))
}

/// The page with grey levels between its 1st and 99th percentile stretched to 0–255; `None`
/// when the page already spans most of the range.
fn stretch_contrast(img: &GrayImage) -> Option<GrayImage> {
    let mut hist = [0usize; 256];
    for &v in img.as_raw() {
        hist[usize::from(v)] += 1;
    }
    let total = img.as_raw().len();
    let percentile = |q: usize| {
        let mut seen = 0;
        hist.iter()
            .position(|&n| {
                seen += n;
                seen * 100 >= total * q
            })
            .unwrap_or(255)
    };
    let (lo, hi) = (percentile(1), percentile(99));
    if hi <= lo || hi - lo >= 160 {
        return None;
    }
    let lut: Vec<u8> = (0..256usize)
        .map(|v| ((v.saturating_sub(lo)) * 255 / (hi - lo)).min(255) as u8)
        .collect();
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = lut[usize::from(*v)];
    }
    Some(out)
}

/// Global Otsu threshold: the cut between the two classes of the histogram with the largest
/// between-class variance.
fn threshold_otsu(img: &GrayImage) -> GrayImage {
    let mut hist = [0u64; 256];
    for &v in img.as_raw() {
        hist[usize::from(v)] += 1;
    }
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut w_b, mut sum_b, mut best, mut cut) = (0u64, 0f64, 0f64, 128u8);
    for (t, &n) in hist.iter().enumerate() {
        w_b += n;
        if w_b == 0 {
            continue;
        }
        let w_f = total - w_b;
        if w_f == 0 {
            break;
        }
        sum_b += t as f64 * n as f64;
        let m_b = sum_b / w_b as f64;
        let m_f = (sum_all - sum_b) / w_f as f64;
        let between = w_b as f64 * w_f as f64 * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            cut = t as u8;
        }
    }
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = if *v > cut { 255 } else { 0 };
    }
    out
}

/// Local-mean threshold over a square window (an integral image keeps it linear in pixels):
/// what survives uneven lighting and low contrast where one global cut cannot.
fn threshold_adaptive(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let r = (w.min(h) / 40).max(8);
    let mut integral = vec![0u64; (w + 1) * (h + 1)];
    let raw = img.as_raw();
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += u64::from(raw[y * w + x]);
            integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = img.clone();
    let dst: &mut [u8] = &mut out;
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = integral[y1 * (w + 1) + x1] + integral[y0 * (w + 1) + x0]
                - integral[y0 * (w + 1) + x1]
                - integral[y1 * (w + 1) + x0];
            let n = ((x1 - x0) * (y1 - y0)) as u64;
            // 7/8 of the local mean: a dark module must be clearly darker than its surround.
            dst[y * w + x] = if u64::from(raw[y * w + x]) * 8 * n > sum * 7 {
                255
            } else {
                0
            };
        }
    }
    out
}
