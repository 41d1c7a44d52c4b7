"""The studio's guard, one ASGI middleware in front of every route.

- **Token.** Bound to loopback, the studio needs none (only this machine reaches it). Bound to
  any other address it needs one: ``Authorization: Bearer TOKEN``, or the ``atelier_token``
  cookie that opening ``/?token=TOKEN`` sets (HttpOnly, SameSite=Strict), or ``?token=`` on any
  request. Compared in constant time.
- **DNS rebinding.** On loopback the ``Host`` header must name loopback (``127.0.0.1``,
  ``localhost``, ``[::1]``): a page from another site whose name resolves to 127.0.0.1 is
  refused.
- **Cross-site requests.** A request that changes something (not GET/HEAD/OPTIONS) with an
  ``Origin`` other than the studio's own, or that the browser marks ``Sec-Fetch-Site:
  cross-site``, is refused: another page cannot submit or cancel jobs.
- **Body size.** A ``Content-Length`` over the limit is refused before reading (413); the
  upload reader counts bytes too.
- **Headers.** A strict Content-Security-Policy (scripts, styles and connections from the
  studio only; no inline script), ``nosniff``, no framing, no referrer.

Example
-------
>>> guard = Guard(app=None, token=None, loopback=True, max_body=10)
>>> guard.host_ok("localhost:7860"), guard.host_ok("evil.example:7860")
(True, False)
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["Guard", "COOKIE", "SECURITY_HEADERS", "LOOPBACK_HOSTS"]

COOKIE = "atelier_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _hostname(host: str) -> str:
    """``host:port`` (or ``[v6]:port``) -> the host name, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: token, Host and Origin checks, body limit, security headers."""

    def __init__(self, app: Any, *, token: str | None, loopback: bool, max_body: int) -> None:
        self.app = app
        self.token = token
        self.loopback = loopback
        self.max_body = max_body

    def host_ok(self, host: str) -> bool:
        return not self.loopback or _hostname(host) in LOOPBACK_HOSTS

    def _token_given(self, scope: Scope, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is no token
            return None
        return cookie[COOKIE].value if COOKIE in cookie else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.host_ok(host):
            await _refuse(send, 421, f"host {host!r} is not this studio's (it serves 127.0.0.1 / localhost)")
            return
        method = scope["method"]
        origin = headers.get("origin")
        if method not in _SAFE_METHODS:
            if origin is not None and origin != "null" and urlsplit(origin).netloc.lower() != host.lower():
                await _refuse(send, 403, "cross-origin request refused")
                return
            if origin == "null" or headers.get("sec-fetch-site") == "cross-site":
                await _refuse(send, 403, "cross-site request refused")
                return
        set_cookie = None
        if self.token is not None:
            given = self._token_given(scope, headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _refuse(send, 401, "this studio needs its token: open the URL it printed, "
                                         "or send Authorization: Bearer TOKEN")
                return
            if scope["path"] == "/" and "token=" in scope.get("query_string", b"").decode("latin-1"):
                set_cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, f"the request is larger than the limit of {self.max_body} bytes")
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if scope["path"].startswith("/static/"):  # the page's own files: revalidate after an upgrade
                    extra.append((b"cache-control", b"no-cache"))
                if set_cookie is not None:
                    extra.append((b"set-cookie", set_cookie.encode()))
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
