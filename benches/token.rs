//! The cost of checking a client token at a WebSocket upgrade (issue 11: at most 10 µs of
//! server CPU per handshake): `TokenVerifier::authorize` on a query string carrying an
//! HS256, RS256 or ES256 token with a `rooms` claim, as the server will call it. Tokens are
//! minted here with ring from the test fixtures. Measured in the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, through the `cpu-time` crate), not wall time: on a shared
//! machine wall time counts the other processes' turns too.
//!
//! Run: `cargo bench --bench token`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use herald::push::token::{TokenConfig, TokenVerifier};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use std::hint::black_box;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret";
const RSA_PRIVATE: &str = include_str!("../tests/push/fixtures/rsa-2048-private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/push/fixtures/rsa-2048-public.pem");
const EC_PRIVATE: &str = include_str!("../tests/push/fixtures/ec-p256-private.pem");
const EC_PUBLIC: &str = include_str!("../tests/push/fixtures/ec-p256-public.pem");
const NOW: u64 = 1_800_000_000;

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM")
}

fn mint(alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
    let claims = format!(
        r#"{{"sub":"user-12345","exp":{},"iat":{NOW},"rooms":["lobby","team-*"],"publish":true}}"#,
        NOW + 3600
    );
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A verifier with the default cache of verified tokens, or none (`cache: false`: every
/// call verifies the signature, as for a token seen for the first time).
fn verifier(secret: Option<&[u8]>, pem: Option<&str>, cache: bool) -> TokenVerifier {
    TokenVerifier::new(TokenConfig {
        hs256_secret: secret.map(<[u8]>::to_vec),
        public_key_pem: pem.map(|p| p.as_bytes().to_vec()),
        cache_entries: if cache {
            TokenConfig::default().cache_entries
        } else {
            0
        },
        ..TokenConfig::default()
    })
    .expect("bench config")
}

#[path = "common/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

/// Bench `authorize` on `token` for the room `team-7` under `label`, after checking once
/// that it passes (a refusal would be measured as if it were the work).
fn bench_authorize(
    group: &mut BenchmarkGroup<'_, ThreadCpu>,
    label: String,
    verifier: &TokenVerifier,
    token: &str,
) {
    let query = format!("token={token}");
    assert!(
        verifier
            .authorize(Some(&query), None, Some("team-7"), NOW)
            .is_ok()
    );
    group.bench_function(label, |b| {
        b.iter(|| verifier.authorize(black_box(Some(&query)), None, Some("team-7"), NOW))
    });
}

fn tokens(c: &mut Criterion<ThreadCpu>) {
    let rng = SystemRandom::new();
    let hs = mint("HS256", |m| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
        ring::hmac::sign(&key, m).as_ref().to_vec()
    });
    let rs = mint("RS256", |m| {
        let pair = RsaKeyPair::from_pkcs8(&der(RSA_PRIVATE)).expect("rsa fixture");
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, m, &mut sig)
            .expect("rsa sign");
        sig
    });
    let es = mint("ES256", |m| {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der(EC_PRIVATE), &rng)
                .expect("ec fixture");
        pair.sign(&rng, m).expect("ec sign").as_ref().to_vec()
    });
    let cases = [
        ("HS256", verifier(Some(SECRET), None, false), hs),
        ("RS256", verifier(None, Some(RSA_PUBLIC), false), rs),
        ("ES256", verifier(None, Some(EC_PUBLIC), false), es),
    ];
    let mut group = c.benchmark_group("token");
    for (name, verifier, token) in &cases {
        bench_authorize(
            &mut group,
            format!("authorize {name} first sight"),
            verifier,
            token,
        );
    }
    // The same token again (a reconnect, a second tab): the cache of verified tokens.
    let seen = [
        ("HS256", verifier(Some(SECRET), None, true), &cases[0].2),
        ("ES256", verifier(None, Some(EC_PUBLIC), true), &cases[2].2),
    ];
    for (name, verifier, token) in &seen {
        bench_authorize(
            &mut group,
            format!("authorize {name} seen before"),
            verifier,
            token,
        );
    }
    // The floor: ring's signature check alone, on the same signing input.
    for (name, _, token) in &cases {
        let (message, signature) = token.rsplit_once('.').expect("JWS");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let (message, signature) = (message.as_bytes(), signature.as_slice());
        let check: Box<dyn Fn() -> bool> = match *name {
            "HS256" => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
                Box::new(move || ring::hmac::verify(&key, message, signature).is_ok())
            }
            "RS256" => {
                let pair = RsaKeyPair::from_pkcs8(&der(RSA_PRIVATE)).expect("rsa fixture");
                let public = pair.public().as_ref().to_vec();
                Box::new(move || {
                    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
                        .verify(message, signature)
                        .is_ok()
                })
            }
            _ => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der(EC_PRIVATE),
                    &rng,
                )
                .expect("ec fixture");
                let public = pair.public_key().as_ref().to_vec();
                Box::new(move || {
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
                        .verify(message, signature)
                        .is_ok()
                })
            }
        };
        assert!(check());
        group.bench_function(format!("ring signature only {name}"), |b| b.iter(&check));
    }
    // A refused token costs no signature check when its algorithm is not configured.
    let (_, hs_verifier, _) = &cases[0];
    let none_query = format!("token={}", mint("none", |_| Vec::new()));
    group.bench_function("refuse alg none", |b| {
        b.iter(|| hs_verifier.authorize(black_box(Some(&none_query)), None, None, NOW))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = tokens
}
criterion_main!(benches);
