"""Local identity: an RS256 issuer with its key in the data dir, and a SQLite user store."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from service.adapters.change_stamp import ChangeStamp
from service.adapters.files import create_once
from service.adapters.identity import Member, MemberDirectory
from service.adapters.identity.applications import Application
from service.adapters.identity.jwks import ClaimNames, JwksTokenVerifier, keyset_lookup
from service.vocabulary import names
from service.vocabulary.errors import Conflict, Forbidden, NotFound
from service.vocabulary.roles import Role


class PasswordChangeRequired(Forbidden):
    """The right one-time password: it may only set a new password, never sign in."""


# scrypt parameters: ~16 MiB and tens of milliseconds per hash, far from brute-forceable.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class LocalUserStore(MemberDirectory):
    """Users with scrypt-hashed passwords in `identity.db`; read on each sign-in, so a user added
    by the CLI or invited through the API is accepted by a running server at once.

    Usernames are scoped per tenant: `tenant/username` signs in any member. A bare `username`
    signs in only an operator-created user (`users add`), whose bare names the operator keeps
    unique; an invited member always signs in with its tenant. So an invite never meets another
    tenant's names: it cannot tell whether a name exists elsewhere, nor take it from anyone."""

    def __init__(self, path: Path, stamp: ChangeStamp | None = None):
        """`stamp`: bumped by every change, for the caches of the server's other processes."""
        self.path = Path(path)
        self.stamp = stamp
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            _migrate(db)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short transaction: committed on success, rolled back on error, always closed."""
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
            if self.stamp is not None and db.total_changes:
                self.stamp.bump()  # the server's other processes drop their look-ups of members at once
        finally:
            db.close()

    def add(
        self, username: str, tenant: str, role: str, password: str, email: str = "", *, invited: bool = False
    ) -> Member:
        """An invited member must change its password at first sign-in and has no bare sign-in name."""
        names.username(username)
        names.tenant(tenant)
        Role.parse(role)
        if len(password) < 8:
            raise ValueError("password must be at least 8 characters")
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO users (tenant, username, role, email, password_hash, created_at,"
                    " must_change_password, bare_sign_in, valid_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, username, role, email, hash_password(password), time.time(), invited, not invited, _now()),
                )
        except sqlite3.IntegrityError:
            # own tenant's name, or (operator only) a bare name taken: invites never reach the latter
            raise Conflict(f"user {username!r} already exists") from None
        return Member(username, tenant, role, email)

    def admit(self, member: Member) -> None:
        """A member without a password, or its new role: for callers that mint tokens themselves (tests)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO users (tenant, username, role, email, password_hash, created_at, valid_after)"
                " VALUES (?, ?, ?, ?, '', ?, ?)"
                " ON CONFLICT (tenant, username) DO UPDATE SET role = excluded.role",
                (member.tenant, member.username, member.role, member.email, time.time(), _now()),
            )

    def list(self, tenant: str, limit: int, after: str | None) -> list[Member]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT username, tenant, role, email FROM users WHERE tenant = ? AND username > ?"
                " ORDER BY username LIMIT ?",
                (tenant, after or "", limit),
            ).fetchall()
        return [Member(*row) for row in rows]

    def invite(self, tenant: str, username: str, email: str, role: str) -> tuple[Member, str | None]:
        password = secrets.token_urlsafe(12)
        return self.add(username, tenant, role, password, email, invited=True), password

    def sign_in_name(self, member: Member) -> str:
        return f"{member.tenant}/{member.username}"

    def find(self, tenant: str, username: str) -> Member | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT username, tenant, role, email, valid_after FROM users WHERE tenant = ? AND username = ?",
                (tenant, username),
            ).fetchone()
        return Member(*row) if row else None

    def get(self, username: str) -> Member | None:
        """A user named so in any tenant, the one its bare name signs in first (for the operator's tools)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT username, tenant, role, email FROM users WHERE username = ? ORDER BY bare_sign_in DESC LIMIT 1",
                (username,),
            ).fetchone()
        return Member(*row) if row else None

    def set_role(self, tenant: str, username: str, role: str) -> Member:
        Role.parse(role)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the last-admin check and the change are one transaction
            member = self._member(db, tenant, username)
            if member.role == "admin" and role != "admin":
                self._keep_an_admin(db, tenant)
            db.execute("UPDATE users SET role = ? WHERE tenant = ? AND username = ?", (role, tenant, username))
        return Member(member.username, tenant, role, member.email)

    def remove(self, tenant: str, username: str) -> None:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            member = self._member(db, tenant, username)
            if member.role == "admin":
                self._keep_an_admin(db, tenant)
            db.execute("DELETE FROM users WHERE tenant = ? AND username = ?", (tenant, username))

    @staticmethod
    def _member(db: sqlite3.Connection, tenant: str, username: str) -> Member:
        row = db.execute(
            "SELECT username, tenant, role, email FROM users WHERE username = ? AND tenant = ?",
            (username, tenant),
        ).fetchone()
        if row is None:
            raise NotFound("member not found")
        return Member(*row)

    @staticmethod
    def _keep_an_admin(db: sqlite3.Connection, tenant: str) -> None:
        (admins,) = db.execute("SELECT COUNT(*) FROM users WHERE tenant = ? AND role = 'admin'", (tenant,)).fetchone()
        if admins <= 1:
            raise Conflict("the tenant's last admin cannot be removed or demoted; make another admin first")

    def _row(self, sign_in_name: str) -> tuple | None:
        """(username, tenant, role, email, password_hash, must_change_password) of `tenant/username` or a bare name."""
        tenant, slash, username = sign_in_name.rpartition("/")
        query = "SELECT username, tenant, role, email, password_hash, must_change_password FROM users WHERE "
        with self._connect() as db:
            if slash:
                return db.execute(query + "tenant = ? AND username = ?", (tenant, username)).fetchone()
            return db.execute(query + "username = ? AND bare_sign_in", (username,)).fetchone()

    def authenticate(self, sign_in_name: str, password: str) -> Member | None:
        """The member whose password this is, or None; PasswordChangeRequired for a one-time password.
        Unknown names, members without a password and wrong passwords all cost one scrypt."""
        row = self._row(sign_in_name)
        if row is None or not row[4]:
            check_password(password, _dummy_hash())  # same work either way: no user enumeration by timing
            return None
        if not check_password(password, row[4]):
            return None
        if row[5]:
            raise PasswordChangeRequired(
                "password change required: this one-time password only sets a new one (POST /api/auth/password)"
            )
        return Member(*row[:4])

    def change_password(self, sign_in_name: str, password: str, new_password: str) -> Member | None:
        """Sets a new password given the current one (or the one-time one); None when that is wrong."""
        try:
            member = self.authenticate(sign_in_name, password)
        except PasswordChangeRequired:
            row = self._row(sign_in_name)
            member = Member(*row[:4]) if row else None
        if member is None:
            return None
        with self._connect() as db:
            db.execute(
                "UPDATE users SET password_hash = ?, must_change_password = 0, valid_after = ?"
                " WHERE tenant = ? AND username = ?",
                (hash_password(new_password), _now(), member.tenant, member.username),
            )
        return member


def _migrate(db: sqlite3.Connection) -> None:
    """Creates the table, or moves a first-version one (bare usernames, unique store-wide) over."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(users)")}
    if columns and "bare_sign_in" not in columns:
        db.execute("ALTER TABLE users RENAME TO users_v1")
    db.execute(
        "CREATE TABLE IF NOT EXISTS users (tenant TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL,"
        " email TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL, created_at REAL NOT NULL,"
        " must_change_password INTEGER NOT NULL DEFAULT 0, bare_sign_in INTEGER NOT NULL DEFAULT 0,"
        " valid_after REAL NOT NULL DEFAULT 0, PRIMARY KEY (tenant, username))"
    )
    # a bare name signs in at most one user
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS users_bare ON users (username) WHERE bare_sign_in")
    if columns and "bare_sign_in" not in columns:
        db.execute(
            "INSERT INTO users (tenant, username, role, email, password_hash, created_at, bare_sign_in)"
            " SELECT tenant, username, role, email, password_hash, created_at, 1 FROM users_v1"
        )
        db.execute("DROP TABLE users_v1")


def _now() -> int:
    """Whole seconds, as a token's `iat`: the token issued right after a change is not older than it."""
    return int(time.time())


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


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: scrypt costs every cold start ~40 ms otherwise."""
    return hash_password(secrets.token_urlsafe(16))


@functools.lru_cache(maxsize=4)
def _signing_key(pem: bytes) -> RSAKey:
    """The key in `pem`, named by its thumbprint. Parsed once per process: cryptography checks an RSA
    key as it loads it (~0.1 s), and every app of a process (the dev server's, a test's) loads the same."""
    parsed = RSAKey.import_key(pem)
    return RSAKey(parsed.private_key, pem, {"kid": parsed.thumbprint(), "use": "sig", "alg": "RS256"})


class LocalIssuer:
    """Signs access tokens with the data dir's RS256 key and publishes its JWKS."""

    def __init__(self, key_file: Path, issuer: str, audience: str, ttl_seconds: int):
        pem = create_once(key_file, lambda: RSAKey.generate_key(2048).as_pem(private=True))
        self.key = _signing_key(pem)
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, user: Member) -> dict:
        return self._sign({"sub": user.username, "tenant": user.tenant, "roles": [user.role]}, None)

    def issue_application(self, app: Application) -> dict:
        """An application's token: its subject is its client; the tenant in it is informative only,
        the verifier reads tenant, role and datasets from the application directory."""
        claims = {"sub": app.client_id, "client_id": app.client_id, "tenant": app.tenant, "roles": [app.role]}
        return self._sign(claims, app.expires_at)

    def _sign(self, subject: dict, not_after: float | None) -> dict:
        now = int(time.time())
        expires = now + self.ttl_seconds if not_after is None else min(now + self.ttl_seconds, int(not_after))
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            **subject,
            "token_use": "access",
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key, algorithms=["RS256"])
        return {"access_token": token, "token_type": "Bearer", "expires_in": expires - now}

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
