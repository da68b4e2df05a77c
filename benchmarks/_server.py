"""The loopback HTTP server: the emulated provider and the protected API, in their own process.

``python -m benchmarks._server [--token-delay SECONDS]`` prints its base URL on one line
and serves HTTP/1.1 (keep-alive, h11 on anyio) until its stdin closes. Routes:

- ``GET /api/items``: the protected API (200 for a token the emulator issued, else 401);
- ``GET /_stats``: the emulator's request counts, as JSON;
- everything else: :class:`anyoauth.testing.ProviderEmulator`; the token endpoint
  answers after ``--token-delay`` seconds, the latency of a real identity provider.

:class:`ServerProcess` starts and stops it from the benchmarks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from types import TracebackType

import anyio
import anyio.abc
import anyio.to_thread
import h11

from ._common import API_PATH, TOKEN_PATH, api_response, make_emulator

__all__ = ["ServerProcess"]

_JSON = [("Content-Type", "application/json")]


class _App:
    def __init__(self, base_url: str, token_delay: float) -> None:
        self.base_url = base_url
        self.token_delay = token_delay
        self.emulator = make_emulator()

    async def answer(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if target == API_PATH:
            authorization = next((v for k, v in headers if k == "authorization"), None)
            status, payload = api_response(self.emulator, authorization)
            return status, _JSON, payload
        if target == "/_stats":
            return 200, _JSON, json.dumps(dict(self.emulator.calls)).encode()
        if target == TOKEN_PATH and self.token_delay > 0:
            await anyio.sleep(self.token_delay)
        answer = self.emulator.handle(method, self.base_url + target, headers, body)
        return answer.status, list(answer.headers), answer.body


async def _next_event(stream: anyio.abc.ByteStream, conn: h11.Connection) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = b""
        conn.receive_data(data)


async def _connection(app: _App, stream: anyio.abc.ByteStream) -> None:
    conn = h11.Connection(h11.SERVER)
    async with stream:
        try:
            while True:
                request = await _next_event(stream, conn)
                if not isinstance(request, h11.Request):
                    return
                body = bytearray()
                while True:
                    event = await _next_event(stream, conn)
                    if isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        return
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
                status, out_headers, payload = await app.answer(
                    request.method.decode("ascii"),
                    request.target.decode("latin-1"),
                    headers,
                    bytes(body),
                )
                out_headers = [*out_headers, ("Content-Length", str(len(payload)))]
                await stream.send(
                    conn.send(h11.Response(status_code=status, headers=out_headers))
                    + conn.send(h11.Data(data=payload))
                    + conn.send(h11.EndOfMessage())
                )
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (h11.ProtocolError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


async def _main(token_delay: float) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    app = _App(f"http://127.0.0.1:{port}", token_delay)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        await _connection(app, stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        print(app.base_url, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # until the parent closes our stdin
        tg.cancel_scope.cancel()


class ServerProcess:
    """``with ServerProcess(token_delay) as base_url:`` runs the server in a subprocess."""

    def __init__(self, token_delay: float) -> None:
        self.token_delay = token_delay
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "benchmarks._server", "--token-delay", str(self.token_delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError("the benchmark server did not start")
        return line

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __repr__(self) -> str:
        return f"<ServerProcess token_delay={self.token_delay}>"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token-delay", type=float, default=0.0)
    anyio.run(_main, parser.parse_args().token_delay)
