"""Cognito identity: tokens of a user pool, verified against its JWKS (fetched and cached)."""

from __future__ import annotations

from service.adapters.identity.http_jwks import HttpJwks
from service.adapters.identity.jwks import ClaimNames, JwksTokenVerifier


def cognito_verifier(issuer: str, jwks_url: str, client_id: str, token_uses: set[str]) -> JwksTokenVerifier:
    """Cognito ID tokens carry `aud`, access tokens `client_id`; both name the app client."""
    return JwksTokenVerifier(
        name="cognito",
        keys=HttpJwks(jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"),
        issuer=issuer,
        audience=client_id,
        token_uses=token_uses,
        claims=ClaimNames(user=("cognito:username", "username"), tenant="custom:tenant", roles="cognito:groups"),
    )
