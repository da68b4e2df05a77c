"""DPoP in the command: ``login --dpop`` makes a key and saves it in the profile, every
later command proves possession of the same key, and ``token --headers METHOD URL``
prints the headers of one request (a proof for it included) as ``curl -H @FILE`` reads
them.

The server is the emulator, whose token answers to a request with a proof are made
DPoP-bound or bearer at will (tests/cli/dpop_server.py); it keeps every proof it
receives, and the tests check each one's signature with joserfc.
"""

from __future__ import annotations

import io
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anyoauth import DPoPKey
from anyoauth.cli._args import build_parser
from anyoauth.cli._login import login_profile
from anyoauth.cli._profiles import Profile
from anyoauth.cli._providers import get_provider

from .dpop_server import BindingEmulator, ath, binding_server, verify_proof
from .helpers import (
    EXIT_OK,
    EXIT_USAGE,
    KC_ID,
    KC_REALM,
    KC_SECRET,
    SVC_ID,
    SVC_SECRET,
    TW_SECRET,
    Cli,
    InProcess,
    assert_no_secrets,
)

API = "https://api.example/me"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture
def server() -> Iterator[tuple[str, BindingEmulator]]:
    yield from binding_server()


def profile_data(config: Path, provider: str = "oauth") -> dict[str, Any]:
    path = config / "profiles" / provider / "default.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def saved_key(config: Path, provider: str = "oauth") -> DPoPKey:
    dpop = profile_data(config, provider)["dpop"]
    return DPoPKey.load(dpop["jwk"], dpop["alg"])


def private_values(config: Path, provider: str = "oauth") -> list[str]:
    jwk = profile_data(config, provider)["dpop"]["jwk"]
    return [jwk[name] for name in PRIVATE_MEMBERS if name in jwk]


def oauth_login(base: str, *more: str) -> list[str]:
    return [
        "login", "oauth", "--issuer", base, "--client-id", SVC_ID,
        "--flow", "client-credentials", *more,
    ]  # fmt: skip


def parse_headers(stdout: str) -> dict[str, str]:
    """``token --headers`` output: one ``Name: value`` per line, each line ending in a
    newline, nothing else."""
    assert stdout.endswith("\n")
    headers = {}
    for line in stdout[:-1].split("\n"):
        name, sep, value = line.partition(": ")
        assert sep, line
        assert name not in headers
        headers[name] = value
    return headers


def test_login_with_dpop_binds_the_tokens_to_a_saved_key(
    cli: Cli, server: tuple[str, BindingEmulator]
) -> None:
    base, emulator = server
    secret = {"ANYOAUTH_CLIENT_SECRET": SVC_SECRET}
    login = cli.run_sync(*oauth_login(base, "--dpop"), env=secret)
    assert login.returncode == EXIT_OK, login.stderr
    assert login.stdout == ""
    assert "a DPoP-bound token valid for" in login.stderr
    assert "anyoauth token oauth --headers METHOD URL" in login.stderr

    data = profile_data(cli.config_dir)
    assert data["version"] == 3
    assert data["dpop"]["alg"] == "ES256"
    assert set(data["dpop"]["jwk"]) == {"kty", "crv", "x", "y", "d"}
    key = saved_key(cli.config_dir)

    # The token request carried a proof of the saved key.
    [proof] = emulator.proofs
    header, claims, jkt = verify_proof(proof.value)
    assert header["typ"] == "dpop+jwt"
    assert jkt == key.thumbprint
    assert (claims["htm"], claims["htu"]) == ("POST", f"{base}/oauth/token")
    assert "ath" not in claims

    # `token` uses the stored token: the profile's key is the one it is bound to.
    plain = cli.run_sync("token", "oauth")
    assert plain.returncode == EXIT_OK, plain.stderr
    assert plain.stderr == ""  # not a terminal: no note
    token = plain.stdout[:-1]
    assert plain.stdout == token + "\n"
    assert emulator.is_valid_token(token)
    assert emulator.calls["oauth.token"] == 1

    jtis = set()
    for _ in range(2):
        run = cli.run_sync("token", "oauth", "--headers", "GET", API + "?page=2#top")
        assert run.returncode == EXIT_OK, run.stderr
        assert run.stderr == ""
        headers = parse_headers(run.stdout)
        assert list(headers) == ["Authorization", "DPoP"]
        assert headers["Authorization"] == f"DPoP {token}"
        header, claims, jkt = verify_proof(headers["DPoP"])
        assert header["typ"] == "dpop+jwt"
        assert header["alg"] == "ES256"
        assert jkt == key.thumbprint
        assert claims["htm"] == "GET"
        assert claims["htu"] == API  # without query and fragment
        assert claims["ath"] == ath(token)
        assert abs(claims["iat"] - time.time()) < 60
        jtis.add(claims["jti"])
    assert len(jtis) == 2  # a new proof each time
    assert emulator.calls["oauth.token"] == 1

    # logout revokes with a proof of the same key.
    logout = cli.run_sync("logout", "oauth")
    assert logout.returncode == EXIT_OK, logout.stderr
    assert not emulator.is_valid_token(token)
    revocation = [p for p in emulator.proofs if p.url.endswith("/oauth/revoke")]
    assert len(revocation) == 1
    assert verify_proof(revocation[0].value)[2] == key.thumbprint

    assert_no_secrets(cli, [token])
    for value in private_values(cli.config_dir):
        assert value not in cli.outputs()


def test_a_bearer_answer_to_a_dpop_login_gives_bearer_headers(
    main: InProcess, tmp_path: Path, server: tuple[str, BindingEmulator]
) -> None:
    base, emulator = server
    emulator.bind = False
    code, out, err = main(*oauth_login(base, "--dpop", "--client-secret", SVC_SECRET))
    assert code == EXIT_OK, err
    assert "answered with a bearer token" in err
    assert profile_data(tmp_path / "config")["version"] == 3  # the key stays for next time

    code, out, err = main("token", "oauth", "--headers", "POST", "https://api.example/items")
    assert code == EXIT_OK, err
    headers = parse_headers(out)
    assert list(headers) == ["Authorization"]
    scheme, token = headers["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert emulator.is_valid_token(token)
    assert err == ""


def test_a_bearer_profile_prints_bearer_headers(
    main: InProcess, tmp_path: Path, server: tuple[str, BindingEmulator]
) -> None:
    base, emulator = server
    code, _, err = main(*oauth_login(base, "--client-secret", SVC_SECRET))
    assert code == EXIT_OK, err
    assert "dpop" not in profile_data(tmp_path / "config")
    assert emulator.proofs == []
    code, out, err = main("token", "oauth", "--headers", "GET", API)
    assert code == EXIT_OK, err
    assert out.startswith("Authorization: Bearer ")
    assert out.count("\n") == 1
    assert emulator.is_valid_token(out.split()[-1])


def test_later_logins_keep_the_key_unless_told(
    main: InProcess, tmp_path: Path, server: tuple[str, BindingEmulator]
) -> None:
    base, _ = server
    config = tmp_path / "config"

    def login(*more: str) -> dict[str, Any]:
        code, _, err = main(*oauth_login(base, "--client-secret", SVC_SECRET, *more))
        assert code == EXIT_OK, err
        assert "warning" not in err  # a new key: the old token is replaced, unused
        return profile_data(config)

    first = login("--dpop")["dpop"]
    assert login()["dpop"] == first  # no --dpop: the profile keeps its key
    assert login("--dpop")["dpop"] == first
    assert login("--dpop-alg", "ES256")["dpop"] == first
    renewed = login("--new-dpop-key")["dpop"]
    assert renewed["alg"] == "ES256"
    assert renewed["jwk"]["d"] != first["jwk"]["d"]
    edwards = login("--dpop-alg", "EdDSA")["dpop"]
    assert (edwards["alg"], edwards["jwk"]["kty"]) == ("EdDSA", "OKP")
    assert login()["dpop"] == edwards
    # The token stored by the last login is bound to the saved key: `token` uses it.
    code, out, err = main("token", "oauth", "--headers", "GET", API)
    assert code == EXIT_OK, err
    proof = parse_headers(out)["DPoP"]
    assert verify_proof(proof)[2] == saved_key(config).thumbprint

    dropped = login("--no-dpop")
    assert dropped["version"] == 2
    assert "dpop" not in dropped
    code, out, err = main("token", "oauth", "--headers", "GET", API)
    assert code == EXIT_OK, err
    assert list(parse_headers(out)) == ["Authorization"]
    assert out.startswith("Authorization: Bearer ")

    code, _, err = main(*oauth_login(base, "--no-dpop", "--new-dpop-key"))
    assert code == EXIT_USAGE
    assert "--no-dpop" in err


def test_another_client_keeps_dpop_with_a_key_of_its_own(main: InProcess) -> None:
    provider = get_provider("keycloak")
    saved = Profile(
        provider="keycloak",
        client_id="first",
        client_secret=KC_SECRET,
        endpoints={"server_url": "http://127.0.0.1:9/auth", "realm": KC_REALM},
        dpop_alg="EdDSA",
        dpop_jwk=DPoPKey.generate("EdDSA").private_jwk(),
    )

    def login(*args: str) -> Profile:
        parsed = build_parser().parse_args(["login", "keycloak", *args])
        return login_profile(provider, parsed, saved)

    assert login().dpop_jwk == saved.dpop_jwk
    other = login("--client-id", "second", "--client-secret", "another-secret")
    assert other.dpop_alg == "EdDSA"
    assert other.dpop_jwk is not None
    assert saved.dpop_jwk is not None
    assert other.dpop_jwk["d"] != saved.dpop_jwk["d"]
    assert login("--no-dpop").dpop_jwk is None


def test_keycloak_login_with_dpop(
    main: InProcess, tmp_path: Path, server: tuple[str, BindingEmulator]
) -> None:
    base, emulator = server
    code, _, err = main(
        "login", "keycloak", "--client-id", KC_ID, "--client-secret", KC_SECRET,
        "--server-url", f"{base}/auth", "--realm", KC_REALM, "--dpop", "--dpop-alg", "PS256",
    )  # fmt: skip
    assert code == EXIT_OK, err
    key = saved_key(tmp_path / "config", "keycloak")
    assert key.algorithm == "PS256"
    [proof] = emulator.proofs
    assert verify_proof(proof.value)[2] == key.thumbprint
    code, out, err = main("token", "keycloak", "--headers", "DELETE", API)
    assert code == EXIT_OK, err
    headers = parse_headers(out)
    token = headers["Authorization"].removeprefix("DPoP ")
    header, claims, jkt = verify_proof(headers["DPoP"])
    assert (header["alg"], jkt) == ("PS256", key.thumbprint)
    assert (claims["htm"], claims["htu"], claims["ath"]) == ("DELETE", API, ath(token))
    assert emulator.calls["keycloak.token"] == 1


def test_which_providers_take_dpop() -> None:
    takes = {name: get_provider(name).takes_dpop for name in ("oauth", "keycloak", "bog")}
    assert takes == {"oauth": True, "keycloak": True, "bog": True}
    assert not get_provider("teamwork").takes_dpop
    assert not get_provider("geni").takes_dpop


def test_providers_whose_tokens_cannot_be_bound_refuse_dpop(main: InProcess) -> None:
    code, out, err = main("login", "geni", "--client-id", "g", "--dpop")
    assert (code, out) == (EXIT_USAGE, "")
    assert "geni does not take --dpop" in err
    code, _, err = main(
        "login", "teamwork", "--client-id", "t", "--client-secret", TW_SECRET, "--dpop"
    )
    assert code == EXIT_USAGE
    assert "teamwork does not take --dpop" in err
    assert TW_SECRET not in err
    # Keycloak's implicit step gets its token in the authorization response.
    code, _, err = main(
        "login", "keycloak", "--client-id", KC_ID, "--client-secret", KC_SECRET,
        "--server-url", "http://127.0.0.1:9/auth", "--realm", KC_REALM,
        "--redirect-uri", "http://127.0.0.1/callback", "--dpop",
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert "cannot be bound to a DPoP key" in err


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GE T", API),
        ("", API),
        ("GET\r\nX-Evil: 1", API),
        ("G\u00e9T", API),
        ("G" * 40, API),
        ("GET", "/relative"),
        ("GET", "api.example/me"),
        ("GET", "ftp://api.example/me"),
        ("GET", "https://"),
        ("GET", "https://api.example/a b"),
        ("GET", "https://api.example/\u00e9"),
        ("GET", "https://api.example/\x1b[31m"),
        ("GET", "https://api.example:99999/"),
        ("GET", "javascript:alert(1)"),
        ("GET", "https://api.example/" + "a" * 9000),
    ],
)
def test_headers_takes_a_method_and_an_absolute_http_url(
    main: InProcess, method: str, url: str
) -> None:
    code, out, err = main("token", "oauth", "--headers", method, url)
    assert code == EXIT_USAGE
    assert out == ""
    assert err.startswith("anyoauth token: error: --headers: ")
    assert len(err.splitlines()) == 1
    if len(url) > 3:
        assert url not in err  # a URL may hold anything: it is not quoted


def test_headers_needs_both_method_and_url(main: InProcess) -> None:
    code, out, err = main("token", "oauth", "--headers", "GET")
    assert (code, out) == (EXIT_USAGE, "")
    assert "--headers" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bound_token_printed_alone_gets_a_note_on_a_terminal(
    main: InProcess, server: tuple[str, BindingEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    code, _, err = main(*oauth_login(base, "--dpop", "--client-secret", SVC_SECRET))
    assert code == EXIT_OK, err
    code, out, err = main("token", "oauth")
    assert code == EXIT_OK
    assert err == ""  # stderr is not a terminal: scripts get the token alone
    token = out[:-1]

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    code, out, _ = main("token", "oauth")
    assert code == EXIT_OK
    assert out == token + "\n"
    note = terminal.getvalue()
    assert note.count("\n") == 1
    assert "DPoP-bound" in note
    assert "anyoauth token oauth --headers METHOD URL" in note
    assert token not in note


def test_profiles_with_a_dpop_key() -> None:
    key = DPoPKey.generate()
    profile = Profile(
        provider="oauth",
        client_id="id",
        issuer="https://login.example",
        flow="client-credentials",
        client_auth="client_secret_basic",
        client_secret="s3cr3t-value",
        dpop_alg="ES256",
        dpop_jwk=key.private_jwk(),
    )
    data = json.loads(profile.to_json())
    assert data["version"] == 3
    assert data["dpop"] == {"alg": "ES256", "jwk": key.private_jwk()}
    assert Profile.from_json(profile.to_json()) == profile
    loaded = profile.dpop_key()
    assert loaded is not None
    assert loaded.thumbprint == key.thumbprint
    assert key.private_jwk()["d"] not in repr(profile)
    assert sorted(profile.secrets()) == sorted(["s3cr3t-value", key.private_jwk()["d"]])

    # Without a key, the profile is written as before (versions 1 and 2).
    for plain in (
        Profile(provider="keycloak", client_id="id"),
        Profile(provider="oauth", client_id="id", issuer="https://x.example", flow="device"),
    ):
        assert "dpop" not in json.loads(plain.to_json())
        assert json.loads(plain.to_json())["version"] in (1, 2)
        assert plain.dpop_key() is None
    # A key in a preset's profile: version 3, still read back.
    preset = Profile(
        provider="keycloak", client_id="id", dpop_alg="ES256", dpop_jwk=key.private_jwk()
    )
    assert Profile.from_json(preset.to_json()) == preset

    for bad in (
        {"dpop": None},
        {"dpop": {"alg": "HS256", "jwk": key.private_jwk()}},
        {"dpop": {"alg": "none", "jwk": key.private_jwk()}},
        {"dpop": {"alg": "ES256", "jwk": "not a jwk"}},
        {"dpop": {"alg": "ES256", "jwk": {"kty": "EC", "d": 1}}},
        {"dpop": {"alg": "ES256", "jwk": {"d": "x"}}},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - the message says what was wrong
            Profile.from_json(json.dumps(data | bad).encode())
    # A version 2 document carries no key, even if a hand edit adds one.
    v2 = data | {"version": 2}
    assert Profile.from_json(json.dumps(v2).encode()).dpop_jwk is None


def test_help_texts_mention_dpop(main: InProcess) -> None:
    code, out, _ = main("login", "--help")
    assert code == EXIT_OK
    for option in ("--dpop", "--no-dpop", "--dpop-alg ALG", "--new-dpop-key"):
        assert option in out
    code, out, _ = main("token", "--help")
    assert code == EXIT_OK
    assert "--headers METHOD URL" in out
    assert "Authorization: DPoP <token>" in " ".join(out.split())
    code, out, _ = main("providers")
    assert code == EXIT_OK
    builtin = out.split("provider plugins")[0].splitlines()
    listed = {line.split()[0]: "DPoP: login --dpop" in line for line in builtin}
    seed = {name: listed[name] for name in ("geni", "teamwork", "bog", "keycloak", "oauth")}
    assert seed == {
        "geni": False,
        "teamwork": False,
        "bog": True,
        "keycloak": True,
        "oauth": True,
    }
