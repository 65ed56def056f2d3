//! Test-only material: issuer keys, signed e-visa seals, and synthetic visa pages rendered at
//! scanner resolutions with the perturbations real scans suffer. Used by the tests, the bench,
//! the decoder comparison (`examples/decoder_table.rs`) and to make `fixtures/`.
//!
//! Everything is deterministic for a given seed. The keys here are **test-only**: their private
//! halves are derived from public seeds and must never be on a production trust list.

use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::NaiveDate;
use image::{GrayImage, Luma};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use crate::TrustedIssuer;

/// An issuer whose private key tests hold. Test-only.
#[derive(Debug, Clone)]
pub struct TestIssuer {
    /// Key id (`sig.cer.kid`).
    pub id: String,
    /// Issuing state (`data.hdr.is`).
    pub issuing_state: String,
    /// The private key.
    pub signing_key: SigningKey,
}

impl TestIssuer {
    /// A deterministic issuer: the key is drawn from ChaCha20 seeded with `seed`.
    pub fn new(id: &str, issuing_state: &str, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Self {
            id: id.to_string(),
            issuing_state: issuing_state.to_string(),
            signing_key: SigningKey::random(&mut rng),
        }
    }

    /// The trust-list entry for this issuer, valid from `not_before` to `not_after`.
    pub fn trusted(&self, not_before: NaiveDate, not_after: NaiveDate) -> TrustedIssuer {
        TrustedIssuer {
            id: self.id.clone(),
            issuing_state: self.issuing_state.clone(),
            not_before,
            not_after,
            key: *self.signing_key.verifying_key(),
        }
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub fn public_key_pem(&self) -> String {
        self.signing_key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The private key as PKCS#8 PEM (for test fixtures only).
    pub fn private_key_pem(&self) -> String {
        self.signing_key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// The trust-list TOML entry for this issuer.
    pub fn trust_toml(&self, not_before: NaiveDate, not_after: NaiveDate) -> String {
        format!(
            "[[issuer]]\nid = \"{}\"\nissuing_state = \"{}\"\nnot_before = \"{not_before}\"\n\
             not_after = \"{not_after}\"\npublic_key = \"\"\"\n{}\"\"\"\n",
            self.id,
            self.issuing_state,
            self.public_key_pem()
        )
    }

    /// Signs `data` (the seal's `data` object) and returns the whole seal as compact JSON.
    pub fn seal(&self, data: &Value) -> String {
        let signed = crate::canonical::to_vec(data).unwrap_or_default();
        let sig: Signature = self.signing_key.sign(&signed);
        let pk = self.signing_key.verifying_key().to_encoded_point(true);
        json!({
            "data": data,
            "sig": {
                "alg": "ES256",
                "cer": {"kid": self.id, "pk": Base64UrlUnpadded::encode_string(pk.as_bytes())},
                "sigvl": Base64UrlUnpadded::encode_string(&sig.to_bytes()),
            }
        })
        .to_string()
    }
}

/// The issuer the fixtures' trust list trusts (`fixtures/trust/`). Test-only.
pub fn test_issuer() -> TestIssuer {
    TestIssuer::new("TEST-PAK-EVISA-1", "PAK", 0x7e57_0001)
}

/// An issuer no trust list trusts, for forged-seal tests. Test-only.
pub fn rogue_issuer() -> TestIssuer {
    TestIssuer::new("TEST-ROGUE-1", "PAK", 0x7e57_0bad)
}

/// The facts an e-visa seal states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisaSpec {
    /// Visa number.
    pub visa_number: String,
    /// Passport number.
    pub passport_number: String,
    /// Surname.
    pub surname: String,
    /// Given names.
    pub given_names: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub dob: String,
    /// ICAO 3-letter nationality.
    pub nationality: String,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day.
    pub valid_until: NaiveDate,
    /// Visa type.
    pub visa_type: String,
    /// Entries (0 = multiple).
    pub entries: u32,
}

const SURNAMES: [&str; 8] = [
    "KHAN", "AHMED", "HUSSAIN", "MALIK", "QURESHI", "BUTT", "CHAUDHRY", "RAZA",
];
const GIVEN: [&str; 8] = [
    "MUHAMMAD ALI",
    "AYESHA",
    "FATIMA BIBI",
    "USMAN",
    "BILAL AHMAD",
    "ZAINAB",
    "HAMZA",
    "SANA",
];

impl VisaSpec {
    /// A plausible visa valid around 2026-11-23, drawn from `rng`.
    pub fn sample(rng: &mut impl Rng) -> Self {
        let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let from = day(2026, 10, 1) + chrono::Days::new(rng.gen_range(0..50));
        Self {
            visa_number: format!(
                "PV26{}{:07}",
                (b'A' + rng.gen_range(0..26u8)) as char,
                rng.gen_range(0..10_000_000u32)
            ),
            passport_number: format!(
                "{}{}{:07}",
                (b'A' + rng.gen_range(0..26u8)) as char,
                (b'A' + rng.gen_range(0..26u8)) as char,
                rng.gen_range(0..10_000_000u32)
            ),
            surname: SURNAMES[rng.gen_range(0..SURNAMES.len())].to_string(),
            given_names: GIVEN[rng.gen_range(0..GIVEN.len())].to_string(),
            dob: format!(
                "{}-{:02}-{:02}",
                rng.gen_range(1950..2008),
                rng.gen_range(1..=12),
                rng.gen_range(1..=28)
            ),
            nationality: "PAK".into(),
            valid_from: from,
            valid_until: from + chrono::Days::new(90),
            visa_type: ["VISIT", "WORK", "STUDY", "UMRAH"][rng.gen_range(0..4)].into(),
            entries: rng.gen_range(0..3),
        }
    }

    /// The seal's `data` object for this visa.
    pub fn data(&self, issuing_state: &str) -> Value {
        json!({
            "hdr": {"type": crate::seal::EVISA_TYPE, "version": crate::seal::EVISA_VERSION, "is": issuing_state},
            "msg": {
                "vn": self.visa_number,
                "pn": self.passport_number,
                "n": format!("{} {}", self.surname, self.given_names),
                "dob": self.dob,
                "nat": self.nationality,
                "vf": self.valid_from.to_string(),
                "vu": self.valid_until.to_string(),
                "vt": self.visa_type,
                "ne": self.entries,
            }
        })
    }

    /// The MRZ identity of the passport this visa was issued for.
    pub fn identity(&self) -> checkpost_document::Identity {
        checkpost_document::Identity {
            surname: self.surname.clone(),
            given_names: self.given_names.clone(),
            date_of_birth: checkpost_document::PartialDate::parse(&self.dob).ok(),
            nationality: self.nationality.clone(),
            issuing_state: self.nationality.clone(),
            document_number: self.passport_number.clone(),
            ..Default::default()
        }
    }

    /// The signed seal, as `issuer` would print it in the QR code.
    pub fn seal(&self, issuer: &TestIssuer) -> String {
        issuer.seal(&self.data(&issuer.issuing_state))
    }
}

/// Page sizes counters scan at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// 1250 × 880: a visa page at about 200 dpi.
    Small,
    /// 2480 × 1750: the same page at about 400 dpi.
    Large,
}

impl PageSize {
    /// Width and height in pixels.
    pub fn dimensions(self) -> (u32, u32) {
        match self {
            Self::Small => (1250, 880),
            Self::Large => (2480, 1750),
        }
    }
}

/// Renders a synthetic visa page: textured background, frame, text-like lines, a photo box, an
/// MRZ band, and the QR code of `payload` on the right.
pub fn render_page(payload: &str, size: PageSize, rng: &mut impl Rng) -> GrayImage {
    let (w, h) = size.dimensions();
    let s = w as f64 / 1250.0;
    let px = |v: f64| (v * s).round() as u32;
    // Background: a guilloche-like texture separable in x and y, so it is cheap to draw.
    let base = rng.gen_range(222..240) as f64;
    let col: Vec<f64> = (0..w)
        .map(|x| 6.0 * (x as f64 / (17.0 * s)).sin())
        .collect();
    let row: Vec<f64> = (0..h)
        .map(|y| 5.0 * (y as f64 / (23.0 * s)).cos())
        .collect();
    let mut img = GrayImage::from_fn(w, h, |x, y| {
        Luma([(base + col[x as usize] + row[y as usize]).clamp(0.0, 255.0) as u8])
    });
    // Frame and title band.
    rect(&mut img, px(20.0), px(20.0), w - px(40.0), px(3.0), 60);
    rect(&mut img, px(20.0), h - px(23.0), w - px(40.0), px(3.0), 60);
    rect(&mut img, px(20.0), px(20.0), px(3.0), h - px(40.0), 60);
    rect(&mut img, w - px(23.0), px(20.0), px(3.0), h - px(40.0), 60);
    rect(&mut img, px(40.0), px(40.0), px(700.0), px(40.0), 150);
    text_line(&mut img, rng, px(60.0), px(50.0), px(600.0), px(20.0), 30);
    // Photo box.
    rect(&mut img, px(50.0), px(120.0), px(220.0), px(280.0), 120);
    rect(&mut img, px(100.0), px(160.0), px(120.0), px(150.0), 90);
    // Field labels and values.
    let mut y = px(120.0);
    while y < px(600.0) {
        text_line(&mut img, rng, px(300.0), y, px(380.0), px(12.0), 100);
        text_line(
            &mut img,
            rng,
            px(300.0),
            y + px(18.0),
            px(420.0),
            px(16.0),
            25,
        );
        y += px(52.0);
    }
    // MRZ band.
    for line in 0..2 {
        text_line(
            &mut img,
            rng,
            px(50.0),
            px(740.0 + 45.0 * line as f64),
            px(1150.0),
            px(26.0),
            20,
        );
    }
    draw_qr(&mut img, payload, px(770.0), px(120.0), px(400.0));
    debug_assert!((QR_CENTRE.0 * 1250.0 - 940.0).abs() < 5.0);
    img
}

/// Where [`render_page`] centres the code of a typical seal, as fractions of width and height.
const QR_CENTRE: (f64, f64) = (0.752, 0.33);

/// Fills a rectangle with `v`, clipped to the image.
fn rect(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32, v: u8) {
    let (iw, ih) = img.dimensions();
    let (x0, x1) = (x.min(iw) as usize, (x + w).min(iw) as usize);
    let stride = iw as usize;
    let buf: &mut [u8] = img;
    for yy in y.min(ih)..(y + h).min(ih) {
        let row = yy as usize * stride;
        buf[row + x0..row + x1].fill(v);
    }
}

/// Glyph-like strokes in words: many dark/light transitions, as printed text gives a decoder.
fn text_line(
    img: &mut GrayImage,
    rng: &mut impl Rng,
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    v: u8,
) {
    let glyph = (height * 6 / 10).max(2);
    let mut cx = x;
    while cx + glyph < x + width {
        let word = rng.gen_range(2..10);
        for _ in 0..word {
            if cx + glyph >= x + width {
                break;
            }
            let top = y + rng.gen_range(0..=height / 4);
            let gh = height - (top - y);
            rect(img, cx, top, (glyph / 3).max(1), gh, v);
            rect(img, cx, top, glyph, (glyph / 4).max(1), v);
            if rng.gen_bool(0.5) {
                rect(
                    img,
                    cx + glyph - (glyph / 3).max(1),
                    top,
                    (glyph / 3).max(1),
                    gh,
                    v,
                );
            }
            cx += glyph + (glyph / 3).max(1);
        }
        cx += glyph * 2;
    }
}

/// Draws `payload` as a QR code (EC level M) fitting a `side`-pixel square at (x, y), with its
/// quiet zone.
fn draw_qr(img: &mut GrayImage, payload: &str, x: u32, y: u32, side: u32) {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M) else {
        return;
    };
    let n = code.width() as u32;
    let module = (side / (n + 8)).max(1);
    let colors = code.to_colors();
    rect(img, x, y, module * (n + 8), module * (n + 8), 255);
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i as u32 % n, i as u32 / n);
            rect(
                img,
                x + (mx + 4) * module,
                y + (my + 4) * module,
                module,
                module,
                15,
            );
        }
    }
}

/// The perturbations a scan can suffer, one class at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perturbation {
    /// None: a clean PNG.
    Clean,
    /// Turned by 0, 90, 180 or 270 degrees.
    Rotation,
    /// Rotated by up to 30 degrees either way.
    Skew,
    /// JPEG at quality 40–90.
    Jpeg,
    /// Gaussian blur, sigma 0.6–1.4.
    Blur,
    /// Additive Gaussian noise, sd 8–24 grey levels.
    Noise,
    /// Grey levels squeezed into a 45–80 level range.
    LowContrast,
    /// Each corner moved by up to 5% of the page: a page not flat on the glass.
    Perspective,
}

impl Perturbation {
    /// Every class, in table order.
    pub const ALL: [Perturbation; 8] = [
        Self::Clean,
        Self::Rotation,
        Self::Skew,
        Self::Jpeg,
        Self::Blur,
        Self::Noise,
        Self::LowContrast,
        Self::Perspective,
    ];

    /// A short name for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Rotation => "rotation 0/90/180/270",
            Self::Skew => "skew <=30 deg",
            Self::Jpeg => "jpeg q40-90",
            Self::Blur => "blur",
            Self::Noise => "noise",
            Self::LowContrast => "low contrast",
            Self::Perspective => "perspective",
        }
    }
}

/// Applies one perturbation drawn from `rng` and encodes the result as the scanner would (PNG,
/// or JPEG for the JPEG class).
pub fn perturb(page: GrayImage, class: Perturbation, rng: &mut impl Rng) -> Vec<u8> {
    let (w, h) = (page.width() as f64, page.height() as f64);
    let img = match class {
        Perturbation::Clean | Perturbation::Jpeg => page,
        Perturbation::Rotation => match rng.gen_range(0..4) {
            0 => page,
            1 => image::imageops::rotate90(&page),
            2 => image::imageops::rotate180(&page),
            _ => image::imageops::rotate270(&page),
        },
        Perturbation::Skew => {
            let a = rng.gen_range(-30.0f64..=30.0).to_radians();
            let (c, s) = (a.cos(), a.sin());
            // Turned about the code's centre, as an officer lays a page askew on the glass but
            // with the visa in view; turning about the page centre would push the code out of
            // the frame, which is a different failure (no code in the image) than skew.
            let (cx, cy) = (w * QR_CENTRE.0, h * QR_CENTRE.1);
            let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
            let turned = corners.map(|(x, y)| {
                let (dx, dy) = (x - cx, y - cy);
                (cx + c * dx - s * dy, cy + s * dx + c * dy)
            });
            warp(&page, turned, corners)
        }
        Perturbation::Blur => image::imageops::blur(&page, rng.gen_range(0.6f32..=1.4)),
        Perturbation::Noise => {
            let sd = rng.gen_range(8.0f64..=24.0);
            let mut img = page;
            for v in img.iter_mut() {
                // Sum of four uniform bytes: mean 510, sd 147.8, close enough to Gaussian.
                let r: u32 = rng.r#gen();
                let sum = (r & 255) + (r >> 8 & 255) + (r >> 16 & 255) + (r >> 24);
                let n = (f64::from(sum) - 510.0) / 147.8 * sd;
                *v = (f64::from(*v) + n).clamp(0.0, 255.0) as u8;
            }
            img
        }
        Perturbation::LowContrast => {
            let range = rng.gen_range(45.0f64..=80.0);
            let lo = rng.gen_range(70.0f64..=150.0);
            let mut img = page;
            for v in img.iter_mut() {
                *v = (lo + f64::from(*v) * range / 255.0) as u8;
            }
            img
        }
        Perturbation::Perspective => {
            let mut j = |v: f64| rng.gen_range(-0.05..=0.05) * v;
            let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
            let moved = corners.map(|(x, y)| (x + j(w), y + j(h)));
            warp(&page, moved, corners)
        }
    };
    if class == Perturbation::Jpeg {
        encode_jpeg(&img, rng.gen_range(40..=90))
    } else {
        encode_png(&img)
    }
}

/// One generated scan: a fresh visa page for `payload` at `size` with a `class` perturbation,
/// all drawn from `seed`.
pub fn scan_image(payload: &str, size: PageSize, class: Perturbation, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let page = render_page(payload, size, &mut rng);
    perturb(page, class, &mut rng)
}

/// PNG bytes of `img`.
pub fn encode_png(img: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    // Writing to memory cannot fail for a well-formed buffer.
    let _ = img.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

/// JPEG bytes of `img` at `quality`.
pub fn encode_jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img);
    out
}

/// Maps `page` so that its points `src` land on `dst` in the output (same size), by inverse
/// projective mapping with bilinear sampling; outside the page is white (the scanner lid).
fn warp(page: &GrayImage, src: [(f64, f64); 4], dst: [(f64, f64); 4]) -> GrayImage {
    let Some(m) = homography(dst, src) else {
        return page.clone();
    };
    let (w, h) = page.dimensions();
    let raw = page.as_raw();
    let stride = w as usize;
    GrayImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let d = m[6] * xf + m[7] * yf + m[8];
        let sx = (m[0] * xf + m[1] * yf + m[2]) / d - 0.5;
        let sy = (m[3] * xf + m[4] * yf + m[5]) / d - 0.5;
        if sx < 0.0 || sy < 0.0 || sx >= f64::from(w - 1) || sy >= f64::from(h - 1) {
            return Luma([255]);
        }
        let (x0, y0) = (sx as usize, sy as usize);
        let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
        let p = |xx: usize, yy: usize| f64::from(raw[yy * stride + xx]);
        let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
        let bot = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
        Luma([(top * (1.0 - fy) + bot * fy).round() as u8])
    })
}

/// The 3×3 projective map (row-major, m[8] = 1) taking each `from[i]` to `to[i]`.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<[f64; 9]> {
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let ((x, y), (u, v)) = (from[i], to[i]);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gauss-Jordan with partial pivoting on the 8×8 system.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col][col];
        for v in &mut a[col][col..] {
            *v /= p;
        }
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col];
                for (v, pv) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * pv;
                }
            }
        }
    }
    Some([
        a[0][8], a[1][8], a[2][8], a[3][8], a[4][8], a[5][8], a[6][8], a[7][8], 1.0,
    ])
}
