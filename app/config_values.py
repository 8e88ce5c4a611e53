"""Typed values of the environment, each parsed with a clear error naming its variable.

`app.config` reads the environment and builds its settings from these; nothing here
reads the process environment itself: each parser takes the mapping it is given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from limits import parse_many


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


def integer(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def rate(env: Mapping[str, str], name: str, default: str, *, may_be_unlimited: bool = False) -> str:
    """A rate limit such as "10 per 15 minutes" (the `limits` library's notation; several
    joined by ";"), or, where `may_be_unlimited`, "unlimited"."""
    raw = (env.get(name) or "").strip() or default
    if may_be_unlimited and raw == "unlimited":
        return raw
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must read like '5 per minute', got {raw!r}") from None
    return raw


def secret(env: Mapping[str, str], name: str, *, minimum_length: int) -> str:
    raw = env.get(name) or ""
    if raw and len(raw) < minimum_length:
        raise ConfigError(f"{name} must be at least {minimum_length} characters long")
    return raw


def port(env: Mapping[str, str], name: str, default: int) -> int:
    port = integer(env, name, default, minimum=1)
    if port > 65535:
        raise ConfigError(f"{name} must be a TCP port (1-65535), got {port}")
    return port


def ipv4_address(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        return str(ipaddress.IPv4Address(raw))
    except ValueError:
        raise ConfigError(f"{name} must be an IPv4 address, got {raw!r}") from None
