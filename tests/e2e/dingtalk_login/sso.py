"""An independent check of what a DingTalk sign-in hands an app, run by tests/e2e/dingtalk_login.

oidc ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI SESSION_COOKIE
    The app's side of a third-party-initiated login: Authlib starts the code flow with PKCE in a
    browser (a `requests` session) that holds only the portal session cookie a DingTalk sign-in
    made; the provider must answer with a code at once (no sign-in page), and joserfc checks the
    id_token against the JWKS discovery names. Prints the id_token's claims.
jwt ISSUER AUDIENCE TOKEN
    joserfc checks a JWT app's token (signature against the JWKS, iss, aud, exp). Prints its claims.
Any failed check raises, so the exit status is non-zero.
"""

import json
import secrets
import sys
import time
from urllib.parse import parse_qs, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet


def discovery(issuer):
    config = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == issuer, config
    return config, KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())


def oidc(issuer, client_id, client_secret, redirect_uri, session_cookie):
    config, jwks = discovery(issuer)
    client = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile email phone",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    browser = requests.Session()
    browser.cookies.set("dbsid", session_cookie, domain=urlparse(issuer).hostname)
    answer = browser.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
    callback = answer.headers["Location"]
    assert callback.startswith(redirect_uri), "not silent: " + callback
    query = parse_qs(urlparse(callback).query)
    assert query["state"] == [state], query
    token = client.fetch_token(
        config["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["exp"] > time.time()
    print(json.dumps(id_token.claims))


def jwt_app(issuer, audience, token):
    _, jwks = discovery(issuer)
    decoded = jwt.decode(token, jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    print(json.dumps(decoded.claims))


if __name__ == "__main__":
    if sys.argv[1] == "oidc":
        oidc(*sys.argv[2:7])
    else:
        jwt_app(*sys.argv[2:5])
