"""The router: which emulated provider owns a request, and the answers no provider gives.

It merges the exact paths of every provider (two providers claiming one path is an
error), then asks each provider for paths with variables in them (Keycloak's realms).
It answers 413 for a body over :data:`MAX_BODY_BYTES`, 400 for a repeated query
parameter, 404 for a path nobody owns and 405 for the wrong method, and counts every
request in :attr:`Router.calls` under its endpoint's name. It knows providers only as
:class:`EmulatedProvider` values, and does no IO.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import attrs

from ._toolkit import (
    MAX_BODY_BYTES,
    PAGE_HEADERS,
    EmulatedProvider,
    EmulatorResponse,
    Reject,
    Request,
    Route,
    fail,
    json_response,
    page,
    query_params,
)

__all__ = ["Router"]


def _not_found(request: Request) -> EmulatorResponse:
    return json_response(404, {"error": "not_found", "error_description": "No such endpoint."})


_NOT_FOUND = Route(None, "not_found", _not_found)


class Router:
    """Sends each request to the route of the provider that owns its path."""

    def __init__(self, providers: Iterable[EmulatedProvider[Any]]) -> None:
        self.providers = tuple(providers)
        """The providers, in the order their variable paths are tried."""
        self.calls: Counter[str] = Counter()
        """Requests received, per endpoint name."""
        self._paths: dict[str, Route] = {}
        for provider in self.providers:
            for path, route in provider.routes().items():
                if path in self._paths:
                    raise ValueError(f"two emulated providers claim {path}")
                self._paths[path] = route

    def __repr__(self) -> str:
        return f"<Router providers={len(self.providers)} paths={len(self._paths)}>"

    def route(self, path: str) -> Route:
        """The route of ``path``: a provider's, or the one answering 404."""
        found = self._paths.get(path)
        for provider in self.providers:
            if found is not None:
                break
            found = provider.route(path)
        return found or _NOT_FOUND

    def answer(self, request: Request, query: str) -> EmulatorResponse:
        """Answer ``request``, whose query string ``query`` is not parsed yet."""
        try:
            if len(request.body) > MAX_BODY_BYTES:
                fail(page(413, "Payload too large", "The request body is too large."))
            request = attrs.evolve(request, query=query_params(query))
            route = self.route(request.path)
            self.calls[route.name] += 1
            if route.method is not None and request.method != route.method:
                return attrs.evolve(
                    page(405, "Method not allowed", f"Use {route.method}."),
                    headers=(*PAGE_HEADERS, ("Allow", route.method)),
                )
            return route.handler(request)
        except Reject as rejected:
            return rejected.response
