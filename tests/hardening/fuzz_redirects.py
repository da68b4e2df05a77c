"""Coverage-guided fuzzing (atheris) of the redirect reader and the special-URL matcher.

Run it directly (any libFuzzer option works; seed it with good redirects)::

    python tests/hardening/fuzz_redirects.py -runs=1000000 [corpus_dir]
    python tests/hardening/fuzz_redirects.py -write_seeds=corpus_dir

Every input is tried, as UTF-8 text, as a redirect URL for four flows whose pending
flow carries the fixed state :data:`STATE`. Properties: ``is_redirect`` answers True or
False; the only exceptions are anyoauth's typed errors; a token or a token request comes
out only when the URL, before its query and fragment, is exactly the flow's endpoint,
checked by a regular expression independent of ``urllib.parse``.
``test_hostile_urls.py::test_atheris_finds_nothing`` runs it for a bounded number of
inputs, from a seed corpus, when atheris is installed.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

atheris = importlib.import_module("atheris")

with atheris.instrument_imports(include=["anyoauth"]):
    import anyoauth
    from anyoauth import PendingFlow
    from anyoauth.providers import BankOfGeorgia, Geni
    from anyoauth.sansio import Flow, pending_key

NOW = 1_700_000_000.0
STATE = "FUZZ-state-0123456789abcdefghijklmnopqrstuv"

# (strategy, the endpoint's exact text: scheme and host in any case, default port allowed)
TARGETS: list[tuple[anyoauth.Strategy, re.Pattern[str]]] = [
    (
        anyoauth.AuthorizationCode(
            client_id="app",
            authorization_endpoint="https://as.example/authorize",
            token_endpoint="https://as.example/token",
            redirect_uri="https://app.example/callback",
        ),
        re.compile(r"(?i:https)://(?i:app\.example)\.?(?::0*443|:)?/callback"),
    ),
    (
        anyoauth.AuthorizationCode(
            client_id="cli",
            authorization_endpoint="https://as.example/authorize",
            token_endpoint="https://as.example/token",
            redirect_uri="http://127.0.0.1:8123/cb",
        ),
        re.compile(r"(?i:http)://127\.0\.0\.1\.?:0*8123/cb"),
    ),
    (
        Geni("geni-app"),
        re.compile(r"(?i:https)://(?i:www\.geni\.com)\.?(?::0*443|:)?/platform/oauth/auth_success"),
    ),
    (
        BankOfGeorgia("bog", "s", redirect_uri="https://app.example/bog"),
        re.compile(r"(?i:https)://(?i:app\.example)\.?(?::0*443|:)?/bog"),
    ),
]
PENDING = [
    PendingFlow(
        state=STATE,
        binding=strategy.binding,
        created_at=NOW,
        expires_at=NOW + 600,
        code_verifier="v" * 64 if strategy.uses_pkce else None,
    )
    for strategy, _ in TARGETS
]
SEEDS = [
    f"https://app.example/callback?code=c0de&state={STATE}",
    f"http://127.0.0.1:8123/cb?code=c0de&state={STATE}",
    f"https://www.geni.com/platform/oauth/auth_success#access_token=t0k&expires_in=60&state={STATE}",
    "https://www.geni.com/platform/oauth/auth_failed#status=unauthorized&message=no",
    f"https://app.example/bog?access_token=t0k&token_type=bearer&state={STATE}",
    f"https://app.example/bog#access_token=t0k&state={STATE}",
    f"https://app.example@evil.example/callback?code=c&state={STATE}",
    f"https://app.example/callback/../x?code=c&state={STATE}#code=d",
]


def test_one_input(data: bytes) -> None:
    url = data.decode("utf-8", "replace")
    for (strategy, endpoint), pending in zip(TARGETS, PENDING, strict=True):
        if strategy.is_redirect(url) not in (True, False):
            raise AssertionError("is_redirect answered something else than a bool")
        try:
            redirect, key = Flow.redirect_key(strategy, url)
            if key != pending_key(pending.state):
                continue
            result = Flow.resume(strategy, pending).receive_redirect(redirect, NOW + 1)
        except anyoauth.OAuthError:
            continue
        landed = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
        if not endpoint.fullmatch(landed):
            raise AssertionError(f"{type(result).__name__} from another endpoint: {url!r}")


def main() -> None:
    for arg in sys.argv[1:]:
        if arg.startswith("-write_seeds="):
            folder = Path(arg.partition("=")[2])
            folder.mkdir(parents=True, exist_ok=True)
            for number, seed in enumerate(SEEDS):
                (folder / f"seed-{number}").write_text(seed)
            return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
