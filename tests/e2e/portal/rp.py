"""An independent OpenID Connect relying party, run against the portal by tests/e2e/portal.

Authlib drives the authorization code flow with PKCE (S256) the way a real app would; joserfc
checks the id_token against the JWKS that discovery names (signature, iss, aud, nonce, exp);
a `requests` session plays the browser (cookies, the sign-in form). Prints one JSON object with
what it saw; any check that fails raises, so the exit status is non-zero.

usage: rp.py ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
(CLIENT_SECRET "-" makes it a public client: PKCE alone.)
"""

import html
import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet


def follow_until(browser, url, stop_prefix, limit=10):
    """GETs url and follows redirects by hand until one points at stop_prefix."""
    for _ in range(limit):
        response = browser.get(url, allow_redirects=False)
        if response.status_code not in (301, 302, 303, 307, 308):
            return response, None
        location = urljoin(url, response.headers["Location"])
        if location.startswith(stop_prefix):
            return response, location
        url = location
    raise AssertionError("too many redirects")


def sign_in(browser, page, username, password):
    """Fills the sign-in form the page shows and follows it."""
    text = page.text
    csrf = html.unescape(re.search(r'name="csrf" value="([^"]+)"', text).group(1))
    nxt = html.unescape(re.search(r'name="next" value="([^"]*)"', text).group(1))
    return browser.post(
        urljoin(page.url, "/login"),
        data={"csrf": csrf, "next": nxt, "identifier": username, "password": password},
        allow_redirects=False,
    )


def main():
    issuer, client_id, client_secret, redirect_uri, username, password = sys.argv[1:7]
    public = client_secret == "-"
    config = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == issuer, config
    assert config["request_parameter_supported"] is False
    assert config["request_uri_parameter_supported"] is False
    assert "S256" in config["code_challenge_methods_supported"]
    jwks = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())

    client = OAuth2Session(
        client_id,
        None if public else client_secret,
        scope="openid profile email phone",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    assert create_s256_code_challenge(verifier) in url

    browser = requests.Session()
    page, callback = follow_until(browser, url, redirect_uri)
    assert callback is None and "/login" in page.url or page.status_code == 200, page.status_code
    answer = sign_in(browser, page, username, password)
    assert answer.status_code == 303, (answer.status_code, answer.text[:500])
    _, callback = follow_until(browser, urljoin(page.url, answer.headers["Location"]), redirect_uri)
    assert callback, "the sign-in did not come back to the app"
    query = parse_qs(urlparse(callback).query)
    assert query["state"] == [state], query
    assert "code" in query, query

    token = client.fetch_token(
        config["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    ).validate(claims)
    assert claims["exp"] > time.time()
    assert "auth_time" in claims and "at_hash" in claims, claims
    assert id_token.header["alg"] == "RS256" and id_token.header.get("kid"), id_token.header

    userinfo = client.get(config["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"], (userinfo, claims)

    # The same code again: refused, and the tokens it gave stop working.
    replay = requests.post(
        config["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client_id,
            **({} if public else {"client_secret": client_secret}),
        },
        timeout=10,
    )
    revoked = requests.get(
        config["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=10,
    )
    print(
        json.dumps(
            {
                "id_token": claims,
                "userinfo": userinfo,
                "scope": token.get("scope"),
                "replay_status": replay.status_code,
                "replay_error": replay.json().get("error"),
                "after_replay_userinfo_status": revoked.status_code,
            }
        )
    )


if __name__ == "__main__":
    main()
