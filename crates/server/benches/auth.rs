//! The cost the access check adds to every call: a bearer token (blake3 of the token, compared
//! in constant time against every configured hash), a refused call, and an open health check.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use checkpost_server::auth::{AuthConfig, Authorizer, Role, TokenConfig, token_hash_hex};
use criterion::{Criterion, criterion_group, criterion_main};
use tonic::codegen::http;

fn request(path: &str, token: Option<&str>) -> http::Request<()> {
    let mut b = http::Request::builder().uri(format!("http://127.0.0.1:50051{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(()).unwrap()
}

fn bench(c: &mut Criterion) {
    // A large post: 200 configured tokens (every counter, reviewer and ops terminal).
    let mut config = AuthConfig {
        enabled: true,
        ..AuthConfig::default()
    };
    for i in 0..200 {
        config.tokens.push(TokenConfig {
            name: format!("desk-{i}"),
            blake3: token_hash_hex(&format!("token-{i}")),
            roles: vec![if i % 2 == 0 {
                Role::Counter
            } else {
                Role::Reviewer
            }],
        });
    }
    let auth = Authorizer::new(&config, "127.0.0.1:50051".parse().unwrap()).unwrap();
    let allowed = request("/checkpost.v1.Screening/Screen", Some("token-100"));
    let denied = request("/checkpost.v1.Watchlists/Reload", Some("token-100"));
    let health = request("/grpc.health.v1.Health/Check", None);

    let mut g = c.benchmark_group("auth_check");
    g.bench_function("token_allowed_200_tokens", |b| {
        b.iter(|| black_box(auth.check(black_box(&allowed)).unwrap()))
    });
    g.bench_function("token_permission_denied", |b| {
        b.iter(|| black_box(auth.check(black_box(&denied)).unwrap_err()))
    });
    g.bench_function("open_health_check", |b| {
        b.iter(|| black_box(auth.check(black_box(&health)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
