"""Login security and browser hardening: failed-login limits, cookies, headers, CSP.

Failed sign-ins are counted per account and per address with Flask-Limiter's
rate limiter on the installation's Redis (`REDIS_URL`), so every web process
shares the count. Only failures count: a user who signs in correctly is never
slowed down. The failure that reaches a limit writes one audit row (`lockout`).
Without `REDIS_URL` (the embedded Redis of a single `flask run` process) the
counts live in that process.

The Content-Security-Policy allows scripts only from this site (`script-src
'self'`), plus a per-response nonce that Flask-Admin's stock templates put on
their few inline blocks; the product's own templates have no inline script and
no inline handler (admin_views/static/js/). Flask-Admin's stock templates carry
four kinds of inline `onclick=`; chromium reports them as violations as soon as
the page is parsed, so `rewrite_stock_handlers` turns each into a data attribute
as the page leaves the server, and static/js/stock-handlers.js (or panel.js, for
`data-confirm`) does what the handler did.
"""
from __future__ import annotations

import re
import secrets

from flask import Flask, g, request
from flask_limiter import Limiter
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

_EXTENSION = "sop_login_limiter"


def limiter_storage_uri(redis_url: str | None) -> str:
    """The `limits` storage URI for the app's Redis (`unix://` becomes `redis+unix://`)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def init_login_limiter(app: Flask) -> Limiter:
    limiter = Limiter(key_func=lambda: request.remote_addr or "-", app=app,
                      storage_uri=limiter_storage_uri(app.config.get("REDIS_URL")),
                      strategy="fixed-window", key_prefix="sop-login",
                      in_memory_fallback_enabled=False, headers_enabled=False)
    app.extensions[_EXTENSION] = limiter
    return limiter


def _limits(app: Flask):
    return ((parse(app.config["LOGIN_FAILURES_PER_ACCOUNT"]), "account"),
            (parse(app.config["LOGIN_FAILURES_PER_ADDRESS"]), "address"))


def _keys(username: str, address: str | None) -> dict[str, str]:
    return {"account": (username or "").strip().lower()[:64], "address": address or "-"}


def _with_strategy(app: Flask, use):
    """Run `use(strategy)` on Redis; while Redis is away, on this process's memory
    (sign-ins keep being limited, per process, instead of failing with a 500)."""
    try:
        return use(app.extensions[_EXTENSION].limiter)
    except Exception:  # storage unreachable: redis raises its own connection errors
        fallback = app.extensions.setdefault(
            _EXTENSION + "_memory", FixedWindowRateLimiter(MemoryStorage()))
        return use(fallback)


def login_locked(app: Flask, username: str, address: str | None) -> bool:
    """True while this account or this address has used up its failed sign-ins."""
    keys = _keys(username, address)
    return _with_strategy(app, lambda strategy: not all(
        strategy.test(item, kind, keys[kind]) for item, kind in _limits(app)))


def count_failure(app: Flask, username: str, address: str | None) -> bool:
    """Count a failed sign-in; True when it has just locked the account or address."""
    keys = _keys(username, address)

    def hit(strategy):
        for item, kind in _limits(app):
            strategy.hit(item, kind, keys[kind])
    _with_strategy(app, hit)
    return login_locked(app, username, address)


def reset_failures(app: Flask, username: str, address: str | None) -> None:
    """Forget an account's failures once it signs in (the address keeps its count)."""
    item, kind = _limits(app)[0]
    _with_strategy(app, lambda strategy: strategy.clear(
        item, kind, _keys(username, address)[kind]))


def clear_all(app: Flask) -> None:
    """Forget every count (tests; `flask` shell after a false alarm)."""
    _with_strategy(app, lambda strategy: strategy.storage.reset())


# --- headers -----------------------------------------------------------------------
def csp_nonce() -> str:
    """One nonce per response, for Flask-Admin's stock inline blocks only."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str | None) -> str:
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return "; ".join((
        "default-src 'self'", f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",  # inline style attributes; no script can run
        "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'",
        "frame-ancestors 'none'"))


# Flask-Admin's inline handlers, as its templates render them (the argument escaped).
# Inline-list templates hold new rows escaped once or twice (nested rows), so the
# quotes may be entities: the rewrite keeps the level of escaping it found.
_Q = r'(?P<q>"|&#34;|&amp;#34;|&quot;|&amp;quot;)'
_A = r"(?:'|&#39;|&amp;#39;|&#x27;|&amp;#x27;)"
_ARG = _A + r"(?P<arg>[\w\s.,?!:()\u3000-\u9fff\uff00-\uffef-]*?)" + _A


def _handler(call: str, before: str = "") -> re.Pattern:
    return re.compile(r"onclick=" + _Q + call + r"\(" + before + _ARG + r"\);(?P=q)")


STOCK_HANDLERS = (
    (_handler(r"return faHelpers\.safeConfirm"), r"data-confirm=\g<q>\g<arg>\g<q>"),
    (_handler(r"return modelActions\.execute"), r"data-fa-execute=\g<q>\g<arg>\g<q>"),
    (_handler(r"faForm\.addInlineField", r"this,\s*"), r"data-fa-add-inline=\g<q>\g<arg>\g<q>"),
    (re.compile(r"\sonclick=" + _Q + r"return false;(?P=q)"), ""),
)


def rewrite_stock_handlers(html: str) -> str:
    for pattern, replacement in STOCK_HANDLERS:
        html = pattern.sub(replacement, html)
    return html


def install_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        if response.mimetype == "text/html" and not response.direct_passthrough \
                and request.path.startswith("/admin"):
            response.set_data(rewrite_stock_handlers(response.get_data(as_text=True)))
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy",
                           content_security_policy(g.get("csp_nonce")))
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
