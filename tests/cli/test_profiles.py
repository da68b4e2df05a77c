"""The profiles ``login`` saves: where they live, what their JSON holds (versions 1 and
2), that they never show the secret, and which saved settings a new ``login`` reuses."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from anyoauth.cli._args import build_parser
from anyoauth.cli._common import UsageError
from anyoauth.cli._login import login_profile
from anyoauth.cli._profiles import Config, Profile
from anyoauth.cli._providers import get_provider

from .helpers import EXIT_USAGE, TW_SECRET, InProcess


def test_configuration_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    platformdirs = pytest.importorskip("platformdirs")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ANYOAUTH_CONFIG_DIR", raising=False)
    default = Path(platformdirs.user_config_dir("anyoauth"))
    assert Config.locate(None).root == default
    monkeypatch.setenv("ANYOAUTH_CONFIG_DIR", str(tmp_path / "env"))
    assert Config.locate(None).root == tmp_path / "env"
    assert Config.locate(str(tmp_path / "opt")).root == tmp_path / "opt"


def test_profile_repr_hides_the_secret() -> None:
    profile = Profile(provider="bog", client_id="id", client_secret=TW_SECRET)
    assert TW_SECRET not in repr(profile)
    assert Profile.from_json(profile.to_json()) == profile
    with pytest.raises(ValueError, match="not a profile"):
        Profile.from_json(b'{"version": 1, "provider": 3}')


def test_login_reuses_the_saved_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANYOAUTH_CLIENT_ID", "ANYOAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    provider = get_provider("teamwork")
    saved = Profile(
        provider="teamwork",
        client_id="tw-id",
        client_secret=TW_SECRET,
        endpoints={"token_url": "http://127.0.0.1:1/token.json"},
        agent="system",
        port=8765,
    )

    def profile(*args: str) -> Profile:
        parsed = build_parser().parse_args(["login", "teamwork", *args])
        return login_profile(provider, parsed, saved)

    again = profile()  # nothing given: everything, the secret included, comes back
    assert again == saved
    # A new user agent: the saved agent and port are not mixed into it.
    manual = profile("--agent", "manual", "--redirect-uri", "myapp://cb")
    assert (manual.agent, manual.port, manual.redirect_uri) == ("manual", None, "myapp://cb")
    assert manual.endpoints == saved.endpoints
    assert manual.client_secret == TW_SECRET
    # Another client id never gets the saved secret.
    with pytest.raises(UsageError, match="needs a client secret"):
        profile("--client-id", "other-id")


def test_profile_versions() -> None:
    oauth = Profile(
        provider="oauth",
        client_id="id",
        issuer="https://login.example",
        flow="device",
        client_auth="none",
        server={"token_endpoint": "https://login.example/token"},
        require_iss=True,
    )
    assert json.loads(oauth.to_json())["version"] == 2
    assert Profile.from_json(oauth.to_json()) == oauth
    plain = Profile(provider="geni", client_id="id")
    assert json.loads(plain.to_json())["version"] == 1
    assert "issuer" not in json.loads(plain.to_json())
    assert Profile.from_json(plain.to_json()) == plain
    # Version 1 documents carry no oauth settings, even if a hand edit adds some.
    v1 = json.loads(plain.to_json()) | {"issuer": "https://x.example", "flow": "device"}
    assert Profile.from_json(json.dumps(v1).encode()) == plain
    for bad in (
        {"version": 3},
        {"flow": "sideways"},
        {"client_auth": "private_key_jwt"},
        {"require_iss": "yes"},
        {"server": ["https://x.example"]},
    ):
        data = json.loads(oauth.to_json()) | bad
        with pytest.raises(ValueError):  # noqa: PT011 - the message says what was wrong
            Profile.from_json(json.dumps(data).encode())


def test_a_version_1_oauth_profile_does_not_fit(main: InProcess, tmp_path: Path) -> None:
    path = tmp_path / "config" / "profiles" / "oauth" / "default.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(Profile(provider="oauth", client_id="x").to_json())
    code, _, err = main("token", "oauth")
    assert code == EXIT_USAGE
    assert "does not fit oauth" in err
