"""Security headers on every HTTP response of the served app.

The page may show text a student typed (design names, answers); the app escapes it, and the Content
Security Policy is the second line: the page loads scripts, styles, pictures and fonts only from the
app itself (plus the data:/blob: URLs Gradio's front end makes), sends fetches and forms only to it,
and no other site may frame it (clickjacking). Gradio's page sets its configuration in inline
scripts and Svelte sets inline styles, so 'unsafe-inline' stays for both; Gradio runs an event's `js`
(Prev / Next move the step slider in the page, without a round trip) through `new Function`, hence
'unsafe-eval' — no weaker than 'unsafe-inline' already is, as no text of a user reaches either.
"""
from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
}


class SecurityHeaders:
    """ASGI middleware adding HEADERS to every HTTP response. Plain ASGI rather than Starlette's
    BaseHTTPMiddleware, which would buffer the queue's streamed server-sent events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
