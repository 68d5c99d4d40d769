//! Client tokens minted by PyJWT (an implementation independent of herald's) through
//! `tests/push/mint_token.py`, checked by `herald::push::token::TokenVerifier`: each
//! algorithm, and each refusal the issue lists (wrong signature, `alg: none`, HS/RS
//! confusion, expired, not yet valid, wrong audience, room not granted, read-only).
//!
//! No server is involved: verification is sans-IO, so the tokens are checked at the same
//! fixed `now` they were minted at. Needs `python3` with `pyjwt` and `cryptography`;
//! without them the test prints that it is skipped, unless `HERALD_REQUIRE_PYJWT=1` (CI),
//! where that is a failure.

#![cfg(feature = "jwt")]

use herald::push::grants::RoomGrants;
use herald::push::token::{TokenConfig, TokenError, TokenVerifier};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/push/mint_token.py");
const NOW: u64 = 1_800_000_000;

/// Whether python3 with PyJWT and cryptography is here; panics when CI requires it.
fn pyjwt_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ok {
        if std::env::var("HERALD_REQUIRE_PYJWT").as_deref() == Ok("1") {
            panic!("python3 with pyjwt and cryptography is missing and HERALD_REQUIRE_PYJWT=1");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: python3 with pyjwt and cryptography is missing \
             (pip install pyjwt cryptography); set HERALD_REQUIRE_PYJWT=1 to make this a failure"
        );
    }
    ok
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run mint_token.py");
    assert!(
        out.status.success(),
        "mint_token.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .trim()
        .to_string()
}

/// A token minted by PyJWT at `NOW` with `args` after `mint`.
fn mint(args: &[&str]) -> String {
    let now = NOW.to_string();
    let mut all = vec!["mint", "--now", &now];
    all.extend_from_slice(args);
    run(&all)
}

fn verifier(secret: Option<&Path>, public: Option<&Path>, audience: Option<&str>) -> TokenVerifier {
    let read = |p: &Path| std::fs::read(p).expect("key file");
    TokenVerifier::new(TokenConfig {
        hs256_secret: secret.map(|p| herald::push::token::read_secret_file(p).expect("secret")),
        public_key_pem: public.map(read),
        audience: audience.map(str::to_string),
        ..TokenConfig::default()
    })
    .expect("verifier")
}

#[test]
fn pyjwt_tokens() {
    if !pyjwt_available() {
        return;
    }
    let dir = TempDir::new("pyjwt");
    let keys = dir.0.join("keys");
    run(&["keygen", keys.to_str().unwrap()]);
    let k = |name: &str| keys.join(name);
    let path = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (secret, rsa_priv, rsa_pub, ec_priv, ec_pub) = (
        path(&k("secret")),
        path(&k("rsa-private.pem")),
        path(&k("rsa-public.pem")),
        path(&k("ec-private.pem")),
        path(&k("ec-public.pem")),
    );
    let hs = verifier(Some(&k("secret")), None, None);
    let rs = verifier(None, Some(&k("rsa-public.pem")), None);
    let es = verifier(None, Some(&k("ec-public.pem")), None);

    // Each algorithm, with herald's claims.
    for (alg, key, v) in [
        ("HS256", &secret, &hs),
        ("RS256", &rsa_priv, &rs),
        ("ES256", &ec_priv, &es),
    ] {
        let token = mint(&[
            "--alg",
            alg,
            "--key",
            key,
            "--sub",
            "alice",
            "--rooms",
            "lobby,team-*",
        ]);
        let grant = v
            .verify(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(grant.user.as_deref(), Some("alice"), "{alg}");
        assert_eq!(grant.expires_at, NOW + 3600);
        assert!(grant.publish);
        assert_eq!(
            grant.rooms,
            RoomGrants::Only(vec!["lobby".into(), "team-*".into()])
        );
        assert_eq!(grant.check_room("team-blue"), Ok(()));
        assert_eq!(grant.check_room("admin"), Err(TokenError::RoomNotGranted));
    }

    let read_only = mint(&["--alg", "HS256", "--key", &secret, "--read-only"]);
    let grant = hs.verify(&read_only, NOW).unwrap();
    assert!(!grant.publish);
    assert_eq!(grant.rooms, RoomGrants::Any);

    // Refusals.
    let other = dir.0.join("other");
    std::fs::write(&other, "another-secret-another-secret-another-secret").unwrap();
    let wrong_key = mint(&["--alg", "HS256", "--key", other.to_str().unwrap()]);
    assert_eq!(hs.verify(&wrong_key, NOW), Err(TokenError::BadSignature));

    let wrong_ec = mint(&["--alg", "ES256", "--key", &ec_priv]);
    let other_keys = dir.0.join("other-keys");
    run(&["keygen", other_keys.to_str().unwrap()]);
    let es_other = verifier(None, Some(&other_keys.join("ec-public.pem")), None);
    assert_eq!(
        es_other.verify(&wrong_ec, NOW),
        Err(TokenError::BadSignature)
    );

    let none = mint(&["--alg", "none", "--sub", "mallory"]);
    for v in [&hs, &rs, &es] {
        assert_eq!(v.verify(&none, NOW), Err(TokenError::Algorithm));
    }

    let confused = mint(&["--alg", "HS256", "--confuse", "--key", &rsa_pub]);
    assert_eq!(rs.verify(&confused, NOW), Err(TokenError::Algorithm));
    let confused = mint(&["--alg", "HS256", "--confuse", "--key", &ec_pub]);
    assert_eq!(es.verify(&confused, NOW), Err(TokenError::Algorithm));

    let expired = mint(&["--alg", "HS256", "--key", &secret, "--exp-in", "-1"]);
    assert_eq!(hs.verify(&expired, NOW), Err(TokenError::Expired));
    let no_exp = mint(&["--alg", "HS256", "--key", &secret, "--no-exp"]);
    assert!(matches!(
        hs.verify(&no_exp, NOW),
        Err(TokenError::Malformed(_))
    ));

    let early = mint(&["--alg", "HS256", "--key", &secret, "--nbf-in", "60"]);
    assert_eq!(hs.verify(&early, NOW), Err(TokenError::NotYetValid));
    assert!(hs.verify(&early, NOW + 60).is_ok());

    let with_aud = verifier(Some(&k("secret")), None, Some("herald"));
    let aud_ok = mint(&["--alg", "HS256", "--key", &secret, "--aud", "herald"]);
    assert!(with_aud.verify(&aud_ok, NOW).is_ok());
    let aud_wrong = mint(&["--alg", "HS256", "--key", &secret, "--aud", "billing"]);
    assert_eq!(
        with_aud.verify(&aud_wrong, NOW),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(hs.verify(&aud_wrong, NOW), Err(TokenError::WrongAudience));

    // At an upgrade, as the server will ask: token in the query, room from the path.
    let token = mint(&["--alg", "ES256", "--key", &ec_priv, "--rooms", "team-*"]);
    let query = format!("token={token}");
    assert!(
        es.authorize(Some(&query), None, Some("team-a"), NOW)
            .is_ok()
    );
    let denied = es
        .authorize(Some(&query), None, Some("lobby"), NOW)
        .unwrap_err();
    assert_eq!(
        (denied.status(), denied.reason()),
        (403, "room_not_granted")
    );
}
