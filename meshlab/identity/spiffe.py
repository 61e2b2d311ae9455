"""SPIFFE ids: parsing and validation (SPIFFE-ID specification)."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["SpiffeId", "parse_spiffe_id"]

_TD_RE = re.compile(r"[a-z0-9._-]+")
_SEG_RE = re.compile(r"[A-Za-z0-9._-]+")
_MAX_TD = 255
_MAX_ID = 2048


@dataclasses.dataclass(frozen=True)
class SpiffeId:
    """A validated SPIFFE id. ``str(id)`` gives ``spiffe://<trust_domain><path>``."""

    trust_domain: str
    path: str  # "" or "/seg/seg..."

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}{self.path}"


def parse_spiffe_id(spiffe_id: str) -> SpiffeId:
    """Validates and splits a SPIFFE id.

    Raises:
        TypeError: not a string.
        ValueError: naming the rule broken (scheme, trust domain characters or length,
            port/userinfo, query, fragment, path segment, total length).
    """
    if not isinstance(spiffe_id, str):
        raise TypeError(f"spiffe_id must be a str, got {type(spiffe_id).__name__}")
    s = spiffe_id

    def bad(why: str) -> ValueError:
        return ValueError(f"spiffe_id={s[:80]!r} is not a valid SPIFFE id: {why}")

    if len(s.encode()) > _MAX_ID:
        raise bad(f"longer than {_MAX_ID} bytes")
    if not s.startswith("spiffe://"):
        raise bad("must start with the scheme 'spiffe://' (lowercase)")
    if "?" in s:
        raise bad("query strings are not allowed")
    if "#" in s:
        raise bad("fragments are not allowed")
    rest = s[len("spiffe://") :]
    td, slash, path = rest.partition("/")
    if not td:
        raise bad("the trust domain is empty")
    if "@" in td:
        raise bad("userinfo is not allowed in the trust domain")
    if ":" in td:
        raise bad("a port is not allowed in the trust domain")
    if len(td) > _MAX_TD:
        raise bad(f"the trust domain is {len(td)} characters; at most {_MAX_TD} are allowed")
    if not _TD_RE.fullmatch(td):
        raise bad("the trust domain may contain only lowercase letters, digits, '.', '-', '_'")
    if slash:
        for seg in path.split("/"):
            if seg == "":
                raise bad("path segments must not be empty (no '//' or trailing '/')")
            if seg in (".", ".."):
                raise bad("path segments must not be '.' or '..'")
            if not _SEG_RE.fullmatch(seg):
                raise bad(f"path segment {seg!r} may contain only letters, digits, '.', '-', '_'")
    return SpiffeId(td, "/" + path if slash else "")
