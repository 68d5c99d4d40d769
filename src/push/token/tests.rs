//! Unit tests of token verification, on tokens minted here with ring (the integration test
//! `tests/push_tokens.rs` checks tokens minted by PyJWT, an independent implementation).

use super::*;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const RSA_PRIVATE: &str = include_str!("../../../tests/push/fixtures/rsa-2048-private.pem");
const RSA_PUBLIC: &str = include_str!("../../../tests/push/fixtures/rsa-2048-public.pem");
const RSA_1024_PUBLIC: &str = include_str!("../../../tests/push/fixtures/rsa-1024-public.pem");
const EC_PRIVATE: &str = include_str!("../../../tests/push/fixtures/ec-p256-private.pem");
const EC_PUBLIC: &str = include_str!("../../../tests/push/fixtures/ec-p256-public.pem");
const EC_P384_PUBLIC: &str = include_str!("../../../tests/push/fixtures/ec-p384-public.pem");

const NOW: u64 = 1_800_000_000;

/// How a test token is signed.
enum Sign<'a> {
    Hs(&'a [u8]),
    Rs,
    Es,
    Nothing,
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn mint(alg: &str, claims: &Value, sign: Sign<'_>) -> String {
    let header = json!({"alg": alg, "typ": "JWT"}).to_string();
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = SystemRandom::new();
    let signature = match sign {
        Sign::Hs(key) => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message.as_bytes())
            .as_ref()
            .to_vec(),
        Sign::Rs => {
            let pair = RsaKeyPair::from_pkcs8(&pem_der(RSA_PRIVATE)).unwrap();
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut sig)
                .unwrap();
            sig
        }
        Sign::Es => {
            let pair = EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &pem_der(EC_PRIVATE),
                &rng,
            )
            .unwrap();
            pair.sign(&rng, message.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Sign::Nothing => Vec::new(),
    };
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 60, "iat": NOW})
}

fn with(extra: Value) -> Value {
    let mut c = claims();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn hs_only() -> TokenVerifier {
    TokenVerifier::new(TokenConfig {
        hs256_secret: Some(SECRET.to_vec()),
        ..TokenConfig::default()
    })
    .unwrap()
}

fn public_only(pem: &str) -> TokenVerifier {
    TokenVerifier::new(TokenConfig {
        public_key_pem: Some(pem.as_bytes().to_vec()),
        ..TokenConfig::default()
    })
    .unwrap()
}

fn both() -> TokenVerifier {
    TokenVerifier::new(TokenConfig {
        hs256_secret: Some(SECRET.to_vec()),
        public_key_pem: Some(RSA_PUBLIC.as_bytes().to_vec()),
        ..TokenConfig::default()
    })
    .unwrap()
}

#[test]
fn valid_tokens_of_each_algorithm() {
    let want = Grant {
        user: Some("alice".into()),
        rooms: RoomGrants::Any,
        publish: true,
        expires_at: NOW + 60,
    };
    let hs = mint("HS256", &claims(), Sign::Hs(SECRET));
    assert_eq!(hs_only().verify(&hs, NOW), Ok(want.clone()));
    let rs = mint("RS256", &claims(), Sign::Rs);
    assert_eq!(public_only(RSA_PUBLIC).verify(&rs, NOW), Ok(want.clone()));
    let es = mint("ES256", &claims(), Sign::Es);
    assert_eq!(public_only(EC_PUBLIC).verify(&es, NOW), Ok(want.clone()));
    assert_eq!(both().verify(&hs, NOW), Ok(want.clone()));
    assert_eq!(both().verify(&rs, NOW), Ok(want));
    assert_eq!(both().algorithms(), ["HS256", "RS256"]);
    assert_eq!(public_only(EC_PUBLIC).algorithms(), ["ES256"]);
}

#[test]
fn bad_signatures() {
    let other = b"another secret, also 32 bytes long";
    let hs = mint("HS256", &claims(), Sign::Hs(other));
    assert_eq!(hs_only().verify(&hs, NOW), Err(TokenError::BadSignature));
    // A signature over other claims: swap the payload.
    let good = mint("HS256", &claims(), Sign::Hs(SECRET));
    let forged = mint("HS256", &with(json!({"sub": "mallory"})), Sign::Hs(SECRET));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_parts: Vec<&str> = forged.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    assert_eq!(
        hs_only().verify(&spliced, NOW),
        Err(TokenError::BadSignature)
    );
    // An RSA signature under an ES256 header, and the other way round.
    let wrong = mint("ES256", &claims(), Sign::Rs);
    assert_eq!(
        public_only(EC_PUBLIC).verify(&wrong, NOW),
        Err(TokenError::BadSignature)
    );
    let wrong = mint("RS256", &claims(), Sign::Es);
    assert_eq!(
        public_only(RSA_PUBLIC).verify(&wrong, NOW),
        Err(TokenError::BadSignature)
    );
    // No signature at all.
    let empty = mint("HS256", &claims(), Sign::Nothing);
    assert_eq!(hs_only().verify(&empty, NOW), Err(TokenError::BadSignature));
}

#[test]
fn algorithms_not_configured_are_refused() {
    let none = mint("none", &claims(), Sign::Nothing);
    let none_upper = mint("None", &claims(), Sign::Nothing);
    for verifier in [hs_only(), public_only(RSA_PUBLIC), both()] {
        assert_eq!(verifier.verify(&none, NOW), Err(TokenError::Algorithm));
        assert_eq!(
            verifier.verify(&none_upper, NOW),
            Err(TokenError::Algorithm)
        );
    }
    for alg in ["HS384", "HS512", "PS256", "ES384", "EdDSA", "hs256", ""] {
        let token = mint(alg, &claims(), Sign::Hs(SECRET));
        assert_eq!(
            hs_only().verify(&token, NOW),
            Err(TokenError::Algorithm),
            "{alg}"
        );
    }
    let rs = mint("RS256", &claims(), Sign::Rs);
    assert_eq!(hs_only().verify(&rs, NOW), Err(TokenError::Algorithm));
    assert_eq!(
        public_only(EC_PUBLIC).verify(&rs, NOW),
        Err(TokenError::Algorithm)
    );
    let hs = mint("HS256", &claims(), Sign::Hs(SECRET));
    assert_eq!(
        public_only(RSA_PUBLIC).verify(&hs, NOW),
        Err(TokenError::Algorithm)
    );
}

#[test]
fn no_hs_rs_confusion() {
    // The classic attack: HMAC keyed with the public key's PEM text, which the attacker has.
    for pem in [RSA_PUBLIC, EC_PUBLIC] {
        let token = mint("HS256", &claims(), Sign::Hs(pem.as_bytes()));
        assert_eq!(
            public_only(pem).verify(&token, NOW),
            Err(TokenError::Algorithm)
        );
    }
    let token = mint("HS256", &claims(), Sign::Hs(RSA_PUBLIC.as_bytes()));
    assert_eq!(both().verify(&token, NOW), Err(TokenError::BadSignature));
}

#[test]
fn expiry() {
    let v = hs_only();
    let at = |exp: Value| mint("HS256", &with(json!({"exp": exp})), Sign::Hs(SECRET));
    assert_eq!(v.verify(&at(json!(NOW)), NOW), Err(TokenError::Expired));
    assert_eq!(
        v.verify(&at(json!(NOW - 1000)), NOW),
        Err(TokenError::Expired)
    );
    assert_eq!(v.verify(&at(json!(-5)), NOW), Err(TokenError::Expired));
    assert_eq!(
        v.verify(&at(json!(NOW + 1)), NOW).unwrap().expires_at,
        NOW + 1
    );
    let fractional = v.verify(&at(json!(NOW as f64 + 1.75)), NOW).unwrap();
    assert_eq!(fractional.expires_at, NOW + 1);
    assert_eq!(
        v.verify(&at(json!(NOW as f64 + 0.5)), NOW),
        Err(TokenError::Expired)
    );
    let missing = mint("HS256", &with(json!({"exp": null})), Sign::Hs(SECRET));
    assert_eq!(
        v.verify(&missing, NOW),
        Err(TokenError::Malformed("no exp claim"))
    );
    assert_eq!(TokenError::Malformed("x").reason(), "malformed");
    assert!(matches!(
        v.verify(&at(json!("soon")), NOW),
        Err(TokenError::Malformed(_))
    ));

    let lenient = TokenVerifier::new(TokenConfig {
        hs256_secret: Some(SECRET.to_vec()),
        leeway_secs: 30,
        ..TokenConfig::default()
    })
    .unwrap();
    assert!(lenient.verify(&at(json!(NOW - 29)), NOW).is_ok());
    assert_eq!(
        lenient.verify(&at(json!(NOW - 30)), NOW),
        Err(TokenError::Expired)
    );
}

#[test]
fn not_before() {
    let v = hs_only();
    let at = |nbf: Value| mint("HS256", &with(json!({"nbf": nbf})), Sign::Hs(SECRET));
    assert_eq!(
        v.verify(&at(json!(NOW + 1)), NOW),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(
        v.verify(&at(json!(NOW as f64 + 0.25)), NOW),
        Err(TokenError::NotYetValid)
    );
    assert!(v.verify(&at(json!(NOW)), NOW).is_ok());
    assert!(v.verify(&at(json!(NOW - 100)), NOW).is_ok());
    let lenient = TokenVerifier::new(TokenConfig {
        hs256_secret: Some(SECRET.to_vec()),
        leeway_secs: 5,
        ..TokenConfig::default()
    })
    .unwrap();
    assert!(lenient.verify(&at(json!(NOW + 5)), NOW).is_ok());
    assert_eq!(
        lenient.verify(&at(json!(NOW + 6)), NOW),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn audience_and_issuer() {
    let v = TokenVerifier::new(TokenConfig {
        hs256_secret: Some(SECRET.to_vec()),
        audience: Some("herald".into()),
        issuer: Some("https://app.example".into()),
        ..TokenConfig::default()
    })
    .unwrap();
    let token = |extra: Value| mint("HS256", &with(extra), Sign::Hs(SECRET));
    let iss = "https://app.example";
    assert!(
        v.verify(&token(json!({"aud": "herald", "iss": iss})), NOW)
            .is_ok()
    );
    assert!(
        v.verify(&token(json!({"aud": ["x", "herald"], "iss": iss})), NOW)
            .is_ok()
    );
    for aud in [json!("other"), json!(["x", "y"]), json!([]), Value::Null] {
        assert_eq!(
            v.verify(&token(json!({"aud": aud, "iss": iss})), NOW),
            Err(TokenError::WrongAudience),
            "{aud}"
        );
    }
    for iss in [json!("https://evil.example"), Value::Null] {
        assert_eq!(
            v.verify(&token(json!({"aud": "herald", "iss": iss})), NOW),
            Err(TokenError::WrongIssuer),
            "{iss}"
        );
    }
    // Without a configured audience, a token meant for someone else is refused
    // (RFC 7519 §4.1.3), and one without aud accepted; iss is then not checked.
    assert_eq!(
        hs_only().verify(&token(json!({"aud": "other"})), NOW),
        Err(TokenError::WrongAudience)
    );
    assert!(
        hs_only()
            .verify(&token(json!({"iss": "anyone"})), NOW)
            .is_ok()
    );
}

#[test]
fn herald_claims() {
    let v = hs_only();
    let token = |extra: Value| mint("HS256", &with(extra), Sign::Hs(SECRET));
    let grant = v
        .verify(
            &token(json!({"rooms": ["lobby", "team-*"], "publish": false})),
            NOW,
        )
        .unwrap();
    assert!(!grant.publish);
    assert_eq!(grant.check_room("lobby"), Ok(()));
    assert_eq!(grant.check_room("team-red"), Ok(()));
    assert_eq!(grant.check_room("admin"), Err(TokenError::RoomNotGranted));
    assert!(!grant.allows_room("lobby2"));
    let grant = v.verify(&token(json!({"rooms": []})), NOW).unwrap();
    assert!(!grant.allows_room("lobby"));
    let grant = v
        .verify(&token(json!({"sub": null, "publish": true})), NOW)
        .unwrap();
    assert_eq!(grant.user, None);
    assert!(grant.publish);
    for bad in [
        json!({"rooms": "lobby"}),
        json!({"rooms": ["a b"]}),
        json!({"rooms": [1]}),
        json!({"sub": 42}),
        json!({"sub": ""}),
        json!({"publish": "no"}),
        json!({"aud": 5}),
    ] {
        assert!(
            matches!(
                v.verify(&token(bad.clone()), NOW),
                Err(TokenError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn malformed_tokens() {
    let v = hs_only();
    let good = mint("HS256", &claims(), Sign::Hs(SECRET));
    let (head, rest) = good.split_once('.').unwrap();
    let long = format!("{good}{}", "A".repeat(MAX_TOKEN_LEN));
    let cases = [
        String::new(),
        "abc".into(),
        format!("{head}.{rest}.extra"),
        format!("{head}.only"),
        format!("!!.{rest}"),
        format!("{head}.!!!.sig"),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("not json")),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("{\"typ\":\"JWT\"}")),
        format!("{head}.{}.sig", URL_SAFE_NO_PAD.encode("[1,2]")),
        long,
    ];
    for token in cases {
        let e = v.verify(&token, NOW).unwrap_err();
        assert!(
            matches!(e, TokenError::Malformed(_) | TokenError::BadSignature),
            "{token:.60}: {e:?}"
        );
        assert_eq!(e.status(), 401);
    }
    // The header is read before the signature: claims that are not JSON but correctly
    // signed are malformed, not badly signed.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode("not json");
    let message = format!("{header}.{payload}");
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, SECRET),
        message.as_bytes(),
    );
    let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert!(matches!(
        v.verify(&token, NOW),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn tokens_in_requests() {
    assert_eq!(token_from_request(Some("token=abc"), None), Some("abc"));
    assert_eq!(
        token_from_request(Some("x=1&token=a.b.c&y"), None),
        Some("a.b.c")
    );
    assert_eq!(token_from_request(Some("mytoken=abc"), None), None);
    assert_eq!(token_from_request(Some("token="), None), None);
    assert_eq!(
        token_from_request(None, Some("Bearer a.b.c")),
        Some("a.b.c")
    );
    assert_eq!(
        token_from_request(Some("token=q"), Some("Bearer h")),
        Some("q")
    );
    assert_eq!(token_from_request(Some("x=1"), Some("Bearer h")), Some("h"));
    assert_eq!(token_from_request(None, Some("Basic h")), None);
    assert_eq!(token_from_request(None, None), None);
}

#[test]
fn authorize_at_an_upgrade() {
    let v = hs_only();
    let token = mint(
        "HS256",
        &with(json!({"rooms": ["team-*"]})),
        Sign::Hs(SECRET),
    );
    let query = format!("token={token}");
    assert!(v.authorize(Some(&query), None, Some("team-a"), NOW).is_ok());
    let header = format!("Bearer {token}");
    assert!(
        v.authorize(None, Some(&header), Some("team-a"), NOW)
            .is_ok()
    );
    assert!(v.authorize(Some(&query), None, None, NOW).is_ok());
    let e = v
        .authorize(Some(&query), None, Some("lobby"), NOW)
        .unwrap_err();
    assert_eq!(
        (e, e.status(), e.reason()),
        (TokenError::RoomNotGranted, 403, "room_not_granted")
    );
    let e = v
        .authorize(Some("room=x"), None, Some("lobby"), NOW)
        .unwrap_err();
    assert_eq!(
        (e, e.status(), e.reason()),
        (TokenError::Missing, 401, "missing")
    );
    // An expired token is refused before the room is looked at.
    let e = v
        .authorize(Some(&query), None, Some("lobby"), NOW + 60)
        .unwrap_err();
    assert_eq!(e, TokenError::Expired);
}

#[test]
fn reasons_and_statuses() {
    let all = [
        TokenError::Missing,
        TokenError::Malformed("x"),
        TokenError::BadSignature,
        TokenError::Expired,
        TokenError::NotYetValid,
        TokenError::WrongAudience,
        TokenError::WrongIssuer,
        TokenError::Algorithm,
        TokenError::RoomNotGranted,
    ];
    let reasons: Vec<&str> = all.iter().map(TokenError::reason).collect();
    assert_eq!(reasons, REASONS);
    for e in all {
        assert_eq!(
            e.status(),
            if e == TokenError::RoomNotGranted {
                403
            } else {
                401
            }
        );
        assert!(!e.to_string().contains('\n'));
        let _: &dyn std::error::Error = &e;
    }
}

#[test]
fn configuration_errors() {
    let config = |secret: Option<&[u8]>, pem: Option<&str>| TokenConfig {
        hs256_secret: secret.map(<[u8]>::to_vec),
        public_key_pem: pem.map(|p| p.as_bytes().to_vec()),
        ..TokenConfig::default()
    };
    assert!(matches!(
        TokenVerifier::new(config(None, None)),
        Err(TokenConfigError::NoKey)
    ));
    assert!(matches!(
        TokenVerifier::new(config(Some(&SECRET[..31]), None)),
        Err(TokenConfigError::ShortSecret { len: 31 })
    ));
    assert!(matches!(
        TokenVerifier::new(config(None, Some(RSA_1024_PUBLIC))),
        Err(TokenConfigError::SmallRsaKey { bits: 1024 })
    ));
    for pem in [EC_P384_PUBLIC, RSA_PRIVATE, EC_PRIVATE, "not a pem", ""] {
        assert!(
            matches!(
                TokenVerifier::new(config(None, Some(pem))),
                Err(TokenConfigError::PublicKey)
            ),
            "{pem:.40}"
        );
    }
    assert!(
        TokenConfigError::ShortSecret { len: 3 }
            .to_string()
            .contains("32")
    );
    assert!(format!("{:?}", hs_only()).contains("HS256"));
    assert!(!format!("{:?}", hs_only()).contains("0123456789"));
}

#[test]
fn key_files() {
    let dir = std::env::temp_dir().join(format!("herald-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, [SECRET, b" \r\n\n"].concat()).unwrap();
    assert_eq!(read_secret_file(&path).unwrap(), SECRET);
    let pem = dir.join("key.pem");
    std::fs::write(&pem, RSA_PUBLIC).unwrap();
    assert_eq!(read_public_key_file(&pem).unwrap(), RSA_PUBLIC.as_bytes());
    assert!(matches!(
        read_secret_file(&dir.join("absent")),
        Err(TokenConfigError::Read(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shareable_between_workers() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TokenVerifier>();
    send_sync::<Grant>();
}

#[test]
fn der_lengths() {
    assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x01]), Some(1));
    assert_eq!(
        rsa_modulus_bits(&[0x30, 0x81, 0x04, 0x02, 0x02, 0x00, 0x80]),
        Some(8)
    );
    assert_eq!(rsa_modulus_bits(&[0x30, 0x05, 0x02, 0x09, 0x01]), None);
    assert_eq!(rsa_modulus_bits(&[0x30, 0x80]), None);
    assert_eq!(rsa_modulus_bits(&[0x31, 0x03, 0x02, 0x01, 0x01]), None);
    assert_eq!(rsa_modulus_bits(&[]), None);
}

#[test]
fn a_token_seen_before_is_checked_against_the_clock_again() {
    let v = hs_only();
    let token = mint(
        "HS256",
        &with(json!({"exp": NOW + 10, "nbf": NOW - 5})),
        Sign::Hs(SECRET),
    );
    let first = v.verify(&token, NOW).unwrap();
    // The second time comes from the cache of verified tokens: the same grant...
    assert_eq!(v.verify(&token, NOW + 9), Ok(first));
    // ...and the same refusals as a first check at those times.
    assert_eq!(v.verify(&token, NOW + 10), Err(TokenError::Expired));
    assert_eq!(v.verify(&token, NOW + 10_000), Err(TokenError::Expired));
    // A failed check is not remembered: the next one verifies again.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let other_first = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{signed}.{other_first}{}", &signature[1..]);
    assert_eq!(v.verify(&forged, NOW), Err(TokenError::BadSignature));
    assert_eq!(v.verify(&forged, NOW), Err(TokenError::BadSignature));
    // Caching is per verifier: another key refuses the token it never verified.
    let other = TokenVerifier::new(TokenConfig {
        hs256_secret: Some(b"another-secret-another-secret-another".to_vec()),
        ..TokenConfig::default()
    })
    .unwrap();
    assert_eq!(other.verify(&token, NOW), Err(TokenError::BadSignature));
}
