//! Measures each QR decoder on generated visa pages, per perturbation class: decode rate and
//! p50/p99 decode time (greyscale page in, codes out; image decoding excluded).
//!
//! `cargo run --release -p checkpost-docscan --example decoder_table -- [PER_CLASS] [small|large]`

use std::time::{Duration, Instant};

use checkpost_docscan::generate::{
    PageSize, Perturbation, VisaSpec, perturb, render_page, test_issuer,
};
use checkpost_docscan::qr::{Decoder, find_with};
use checkpost_docscan::{Limits, intake};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn main() {
    let mut args = std::env::args().skip(1);
    let per_class: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let size = match args.next().as_deref() {
        Some("large") => PageSize::Large,
        _ => PageSize::Small,
    };
    let issuer = test_issuer();
    let limits = Limits::default();
    // Generate once, decode with every decoder.
    let mut pages = Vec::new();
    for (ci, class) in Perturbation::ALL.into_iter().enumerate() {
        for i in 0..per_class {
            let mut rng = ChaCha20Rng::seed_from_u64(1000 * ci as u64 + i as u64);
            let spec = VisaSpec::sample(&mut rng);
            let payload = spec.seal(&issuer);
            let page = render_page(&payload, size, &mut rng);
            let bytes = perturb(page, class, &mut rng);
            let Ok(page) = intake::decode(&bytes, &limits) else {
                panic!("generated image does not decode");
            };
            pages.push((class, payload, page.luma));
        }
    }
    println!("{:?} pages, {per_class} per class", size.dimensions());
    print!("| class |");
    for d in Decoder::ALL {
        print!(" {} rate | {} p50 / p99 ms |", d.as_str(), d.as_str());
    }
    println!();
    println!("|---|{}", "---|---|".repeat(Decoder::ALL.len()));
    let mut totals = vec![(0usize, Vec::new()); Decoder::ALL.len()];
    for class in Perturbation::ALL {
        print!("| {} |", class.as_str());
        for (di, d) in Decoder::ALL.into_iter().enumerate() {
            let mut ok = 0;
            let mut times = Vec::new();
            for (c, payload, luma) in pages.iter().filter(|p| p.0 == class) {
                let _ = c;
                let t = Instant::now();
                let codes = find_with(luma, d);
                times.push(t.elapsed());
                if codes.iter().any(|c| &c.payload == payload) {
                    ok += 1;
                }
            }
            totals[di].0 += ok;
            totals[di].1.extend(times.iter().copied());
            let (p50, p99) = percentiles(&mut times);
            print!(
                " {:.0}% | {:.1} / {:.1} |",
                100.0 * ok as f64 / per_class as f64,
                ms(p50),
                ms(p99)
            );
        }
        println!();
    }
    print!("| **all** |");
    let n = per_class * Perturbation::ALL.len();
    for (ok, times) in &mut totals {
        let (p50, p99) = percentiles(times);
        print!(
            " {:.1}% | {:.1} / {:.1} |",
            100.0 * *ok as f64 / n as f64,
            ms(p50),
            ms(p99)
        );
    }
    println!();
}

fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
