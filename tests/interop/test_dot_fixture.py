"""The django-oauth-toolkit fixture itself: options, start-up time, clean exit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from interop.dot import start_dot_server


def test_start_without_iss_and_stop(tmp_path: Path) -> None:
    started = time.monotonic()
    with start_dot_server(tmp_path, iss=False, access_token_lifetime=120) as server:
        elapsed = time.monotonic() - started
        assert elapsed < 30, f"the server took {elapsed:.1f} s to start"
        assert server.startup_seconds < elapsed
        doc = httpx.get(server.metadata_url).json()
        assert doc["issuer"] == server.issuer == server.base_url
        assert "authorization_response_iss_parameter_supported" not in doc
        service = server.apps["service"]
        assert service.client_secret is not None
        token = httpx.post(
            server.token_endpoint,
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, service.client_secret),
        ).json()
        assert token["expires_in"] == 120
        assert (tmp_path / "dot.sqlite3").exists()
        pid = server.pid
        os.kill(pid, 0)  # running
    # Stopped and reaped: the pid is gone (it is our child, so it is not reused yet).
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"the server (pid {pid}) outlived start_dot_server")
    assert "Traceback" not in server.log()
