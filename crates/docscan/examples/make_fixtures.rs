//! Writes the committed test-only fixtures: `fixtures/trust/` (trust list and keys of the
//! test issuers) and `fixtures/scans/` (a few small generated scans).
//!
//! `cargo run -p checkpost-docscan --example make_fixtures` (from the workspace root)

use std::fs;
use std::path::Path;

use checkpost_docscan::generate::{
    PageSize, VisaSpec, encode_jpeg, render_page, rogue_issuer, test_issuer,
};
use chrono::NaiveDate;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let trust_dir = root.join("trust");
    let scans = root.join("scans");
    fs::create_dir_all(&trust_dir)?;
    fs::create_dir_all(&scans)?;
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let issuer = test_issuer();
    let rogue = rogue_issuer();
    fs::write(
        trust_dir.join("trust.toml"),
        format!(
            "# TEST-ONLY trust list for checkpost's tests and examples. Never deploy: the private\n\
             # keys of these issuers are committed next to this file.\n\n{}",
            issuer.trust_toml(day(2026, 1, 1), day(2027, 12, 31))
        ),
    )?;
    fs::write(
        trust_dir.join("TEST-ONLY-test-issuer-1.key.pem"),
        issuer.private_key_pem(),
    )?;
    fs::write(
        trust_dir.join("TEST-ONLY-test-issuer-1.pub.pem"),
        issuer.public_key_pem(),
    )?;
    fs::write(
        trust_dir.join("TEST-ONLY-rogue-issuer.key.pem"),
        rogue.private_key_pem(),
    )?;

    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let mut spec = VisaSpec::sample(&mut rng);
    spec.surname = "KHAN".into();
    spec.given_names = "MUHAMMAD ALI".into();
    spec.passport_number = "AB1234567".into();
    spec.dob = "1990-04-12".into();
    spec.visa_number = "PV26A0001234".into();
    spec.valid_from = day(2026, 11, 1);
    spec.valid_until = day(2027, 1, 31);
    let write = |name: &str, payload: &str, q: u8, seed: u64| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let page = render_page(payload, PageSize::Small, &mut rng);
        // The right-hand part of the page around the code keeps the committed files small.
        let part = image::imageops::crop_imm(&page, 700, 60, 520, 480).to_image();
        let bytes = encode_jpeg(&part, q);
        println!("{name}: {} bytes", bytes.len());
        fs::write(scans.join(name), bytes)
    };
    let genuine = spec.seal(&issuer);
    write("evisa-valid.jpg", &genuine, 60, 1)?;
    write(
        "evisa-tampered.jpg",
        &genuine.replace("AB1234567", "AB7654321"),
        60,
        2,
    )?;
    write("evisa-rogue-signer.jpg", &spec.seal(&rogue), 60, 3)?;
    write("visa-number-only.jpg", "VISA:PV26A0001234", 60, 4)?;
    let valid = fs::read(scans.join("evisa-valid.jpg"))?;
    fs::write(scans.join("truncated.jpg"), &valid[..valid.len() / 2])?;
    fs::write(
        scans.join("register.csv"),
        "visa_number,passport_number,name,dob,nationality,valid_from,valid_until,status\n\
         PV26A0001234,AB1234567,KHAN MUHAMMAD ALI,1990-04-12,PAK,2026-11-01,2027-01-31,ISSUED\n",
    )?;
    Ok(())
}
