#!/usr/bin/env python3
"""Mint client tokens for herald's tests with PyJWT, an implementation independent of herald's.

Owns test keys and test tokens only; it talks to no server. Two commands:

  keygen DIR            write DIR/secret (HS256, 48 random bytes as hex), DIR/rsa-private.pem,
                        DIR/rsa-public.pem (RSA 2048), DIR/ec-private.pem, DIR/ec-public.pem
                        (P-256), with the `cryptography` package; prints their paths as JSON.
  mint --alg ALG --key FILE [claims options]
                        print one token (or, with --json, {"token", "header", "claims"}).

ALG is HS256 (FILE: a secret file, read as herald reads it: its bytes less trailing
whitespace), RS256 or ES256 (FILE: a private key PEM), or `none` (no FILE: an unsecured JWT,
RFC 7519 §6). `--confuse` signs HS256 with FILE's bytes as they are, which PyJWT rightly
refuses to do for a PEM key, so the HMAC is computed here with the standard library: the
algorithm-confusion attack (RFC 8725 §2.1) a server holding only the public key must refuse.

Claims options (times are relative to --now, default the current time):
  --sub U  --rooms a,team-*  (--rooms '' grants no room)  --read-only  --aud A  --iss I
  --exp-in SECONDS (default 3600; negative: already expired)  --no-exp
  --nbf-in SECONDS  --claim NAME=JSON (any extra claim, repeatable)  --now UNIX_SECONDS

Exit status 0 with the result on stdout; 2 with a message on stderr for bad arguments or a
missing package (pip install pyjwt cryptography).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def die(message):
    print(f"mint_token.py: {message}", file=sys.stderr)
    sys.exit(2)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_secret(path):
    with open(path, "rb") as f:
        return f.read().rstrip(b" \t\r\n")


def keygen(directory):
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
    except ImportError:
        die("the cryptography package is missing (pip install cryptography)")
    os.makedirs(directory, exist_ok=True)
    paths = {}

    def write(name, data, mode=0o600):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        paths[name] = path

    write("secret", os.urandom(48).hex().encode("ascii") + b"\n")
    private_format = dict(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public_format = dict(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    for name, key in (
        ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ec", ec.generate_private_key(ec.SECP256R1())),
    ):
        write(f"{name}-private.pem", key.private_bytes(**private_format))
        write(f"{name}-public.pem", key.public_key().public_bytes(**public_format), 0o644)
    print(json.dumps(paths))


def claims_from(args):
    now = int(args.now if args.now is not None else time.time())
    claims = {"iat": now}
    if args.sub is not None:
        claims["sub"] = args.sub
    if not args.no_exp:
        claims["exp"] = now + args.exp_in
    if args.nbf_in is not None:
        claims["nbf"] = now + args.nbf_in
    if args.rooms is not None:
        claims["rooms"] = [r for r in args.rooms.split(",") if r]
    if args.read_only:
        claims["publish"] = False
    if args.aud is not None:
        claims["aud"] = args.aud
    if args.iss is not None:
        claims["iss"] = args.iss
    for extra in args.claim:
        name, sep, value = extra.partition("=")
        if not sep:
            die(f"--claim {extra!r}: use NAME=JSON")
        try:
            claims[name] = json.loads(value)
        except json.JSONDecodeError as e:
            die(f"--claim {name}: not JSON: {e}")
    return claims


def mint(args):
    claims = claims_from(args)
    alg = args.alg
    if args.confuse:
        if alg != "HS256" or not args.key:
            die("--confuse needs --alg HS256 and --key PUBLIC_KEY_FILE")
        with open(args.key, "rb") as f:
            secret = f.read()  # as is: the attacker uses the PEM text
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        tag = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return header, claims, signing_input + "." + b64url(tag)
    try:
        import jwt
    except ImportError:
        die("the pyjwt package is missing (pip install pyjwt cryptography)")
    if alg == "none":
        key = None
    elif not args.key:
        die(f"--alg {alg} needs --key FILE")
    elif alg.startswith("HS"):
        key = read_secret(args.key)
    else:
        with open(args.key, "rb") as f:
            key = f.read()
    try:
        token = jwt.encode(claims, key, algorithm=alg)
    except Exception as e:  # PyJWT's errors for a key that does not fit the algorithm
        die(f"PyJWT refused: {type(e).__name__}: {e}")
    return jwt.get_unverified_header(token), claims, token


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("keygen", help="write test keys into DIR")
    gen.add_argument("dir")
    m = commands.add_parser("mint", help="print a token")
    m.add_argument("--alg", required=True, choices=["HS256", "RS256", "ES256", "none"])
    m.add_argument("--key", help="secret file (HS256) or private key PEM (RS256, ES256)")
    m.add_argument("--confuse", action="store_true", help="HS256 keyed with --key's raw bytes")
    m.add_argument("--sub")
    m.add_argument("--rooms", help="comma-separated room names and patterns")
    m.add_argument("--read-only", action="store_true", help='"publish": false')
    m.add_argument("--aud")
    m.add_argument("--iss")
    m.add_argument("--exp-in", type=int, default=3600)
    m.add_argument("--no-exp", action="store_true")
    m.add_argument("--nbf-in", type=int)
    m.add_argument("--claim", action="append", default=[])
    m.add_argument("--now", type=int)
    m.add_argument("--json", action="store_true", help="print token, header and claims")
    args = parser.parse_args()
    if args.command == "keygen":
        keygen(args.dir)
        return
    header, claims, token = mint(args)
    if args.json:
        print(json.dumps({"token": token, "header": header, "claims": claims}))
    else:
        print(token)


if __name__ == "__main__":
    main()
