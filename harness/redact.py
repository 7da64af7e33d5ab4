"""Credentials in URLs: mask them wherever a URL is shown (errors, logs, --dry-run, the
result file, metrics) and notice when the command line carries them.

Pure text functions, used in every process. The masking does not trust a URL parser:
a password may hold `/`, `@`, `:` or `%`, which make urlsplit() fail or split in the
wrong place, so everything between `scheme://` and the last `@` before the path is
treated as credentials.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*://)")


def _userinfo_end(text: str, start: int) -> int:
    """Index of the `@` that ends the credentials, or -1. The last `@` in the text
    wins: an unencoded `@` or `/` in a password comes before it, and a host or path
    rarely holds one (masking too much is safe; too little is not)."""
    return text.rfind("@", start)


def mask_url(text: str) -> str:
    """scheme://user:secret@host/... -> scheme://user:***@host/...; scheme://token@host
    -> scheme://***@host. Text without credentials comes back unchanged."""
    if not text:
        return text
    match = _SCHEME.match(text)
    if not match:
        return text
    start = match.end()
    end = _userinfo_end(text, start)
    if end < 0:
        return text
    userinfo = text[start:end]
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return text[:start] + shown + text[end:]


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def mask_text(text: str) -> str:
    """Every URL inside free text (an exception message, a library's log line) masked;
    a URL ends at whitespace or a quote."""
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text or "")


def has_credentials(text: str) -> bool:
    return mask_url(text) != text


def strip_credentials(text: str) -> tuple[str, str, str]:
    """(the URL without credentials, user, password) with %-escapes decoded; for
    clients that take credentials apart from the URL (the Pushgateway push)."""
    from urllib.parse import unquote

    match = _SCHEME.match(text or "")
    if not match:
        return text, "", ""
    start = match.end()
    end = _userinfo_end(text, start)
    if end < 0:
        return text, "", ""
    user, _, password = text[start:end].partition(":")
    return text[:start] + text[end + 1:], unquote(user), unquote(password)
