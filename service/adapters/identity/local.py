"""Local identity: an RS256 issuer with its key in the data dir, and a SQLite user store."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from service.adapters.files import create_once
from service.adapters.identity.jwks import ClaimNames, JwksTokenVerifier, keyset_lookup
from service.domain import names
from service.domain.errors import Conflict
from service.domain.roles import Role

# scrypt parameters: ~16 MiB and tens of milliseconds per hash, far from brute-forceable.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class LocalUser:
    username: str
    tenant: str
    role: str
    email: str = ""


class LocalUserStore:
    """Users with scrypt-hashed passwords in `identity.db`; read on each sign-in, so a user added
    by the CLI is accepted by a running server at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
                " role TEXT NOT NULL, email TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL,"
                " created_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def add(self, username: str, tenant: str, role: str, password: str, email: str = "") -> LocalUser:
        names.username(username)
        names.tenant(tenant)
        Role.parse(role)
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                    (username, tenant, role, email, hash_password(password), time.time()),
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"user {username!r} already exists") from None
        return LocalUser(username, tenant, role, email)

    def get(self, username: str) -> LocalUser | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT username, tenant, role, email FROM users WHERE username = ?", (username,)
            ).fetchone()
        return LocalUser(*row) if row else None

    def authenticate(self, username: str, password: str) -> LocalUser | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT username, tenant, role, email, password_hash FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            check_password(password, _DUMMY_HASH)  # same work either way: no user enumeration by timing
            return None
        return LocalUser(*row[:4]) if check_password(password, row[4]) else None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


class LocalIssuer:
    """Signs access tokens with the data dir's RS256 key and publishes its JWKS."""

    def __init__(self, key_file: Path, issuer: str, audience: str, ttl_seconds: int):
        pem = create_once(key_file, lambda: RSAKey.generate_key(2048).as_pem(private=True))
        key = RSAKey.import_key(pem)
        self.key = RSAKey.import_key(pem, parameters={"kid": key.thumbprint(), "use": "sig", "alg": "RS256"})
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, user: LocalUser) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user.username,
            "tenant": user.tenant,
            "roles": [user.role],
            "token_use": "access",
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key, algorithms=["RS256"])
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_seconds}

    def jwks(self) -> dict:
        return KeySet([self.key]).as_dict(private=False)

    def verifier(self) -> JwksTokenVerifier:
        return JwksTokenVerifier(
            name="local",
            keys=keyset_lookup(KeySet([self.key])),
            issuer=self.issuer,
            audience=self.audience,
            token_uses={"access"},
            claims=ClaimNames(user=("sub",), tenant="tenant", roles="roles"),
        )
