"""Small HTTP endpoints of DNS pods (health, readiness, metrics) on the pod IP's real port numbers.

The kubelet probes them with real HTTP GETs and the wizard reads metrics from them, so they are
real aiohttp servers; each route is a function returning (status, body) at request time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Route = Callable[[], tuple[int, str]]


class HTTPEndpoints:
    """One HTTP server on (host, port) serving fixed paths."""

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.host = host
        self.port = port
        self._routes = routes
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind; raises OSError (e.g. address in use) with nothing left bound."""
        app = web.Application()
        for path, route in self._routes.items():
            app.router.add_get(path, self._handler(route))
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @staticmethod
    def _handler(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(_: web.Request) -> web.StreamResponse:
            status, body = route()
            return web.Response(status=status, text=body, content_type="text/plain")

        return handle
