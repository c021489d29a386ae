"""Password policy (standard library only): long enough and not a well-known password.

`problems(password, username)` lists what is wrong (empty when acceptable); the
admin's user form and `flask users create` both use it. The list of common
passwords ships beside this module (common_passwords.txt, one per line,
lower case); a password is refused when it, lower-cased, is on the list, or
when it merely repeats the username.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines
                     if line.strip() and not line.startswith("#"))


# What each problem says; the panel shows these through gettext (same English text).
MESSAGES = {
    "too_short": f"The password must be at least {MIN_LENGTH} characters.",
    "too_long": f"The password must be at most {MAX_LENGTH} characters.",
    "common": "This password is too common; choose one that is hard to guess.",
    "username": "The password must not be the username.",
}


def problems(password: str, username: str = "") -> list[str]:
    """The codes of what is wrong (keys of MESSAGES); empty when acceptable."""
    out = []
    if len(password) < MIN_LENGTH:
        out.append("too_short")
    if len(password) > MAX_LENGTH:
        out.append("too_long")
    lowered = password.strip().lower()
    if lowered in common_passwords():
        out.append("common")
    if username and lowered == username.strip().lower():
        out.append("username")
    return out
