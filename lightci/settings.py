"""Server settings from the repository's git config, section ``lightci``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pygit2

from lightci.errors import LightciError
from lightci.logs import DEFAULT_MAX_LOG_BYTES


@dataclass(frozen=True)
class Settings:
    max_parallel: int
    max_runs: int
    max_log_size: int
    url: str | None
    kill_grace: float
    retention_days: float | None
    job_timeout: float | None


def _get(config: pygit2.Config, key: str) -> str | None:
    try:
        value = config[key]
    except KeyError:
        return None
    return str(value)


def _positive_int(config: pygit2.Config, key: str, default: int) -> int:
    raw = _get(config, key)
    if raw is None:
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise LightciError(
            f"git config {key} is {raw!r}, not a positive whole number (with "
            f"an optional k, m or g suffix); fix it with `git config {key} N`"
        )
    return value


def parse_size(raw: str) -> int:
    """Parse bytes with an optional k, m or g suffix; raise ValueError if invalid."""
    text = raw.strip().lower()
    factor = 1
    for suffix, multiple in (("k", 1024), ("m", 1024**2), ("g", 1024**3)):
        if text.endswith(suffix):
            text = text[:-1]
            factor = multiple
    if not text.isdigit():
        raise ValueError(f"not a size in bytes: {raw!r}")
    return int(text) * factor


def viewer_url(repo: pygit2.Repository) -> str | None:
    """Return ``lightci.url`` alone, so a bad value elsewhere cannot stop a hook."""
    return _get(repo.config, "lightci.url")


def load_settings(repo: pygit2.Repository) -> Settings:
    config = repo.config
    grace_raw = _get(config, "lightci.killGrace")
    retention_raw = _get(config, "lightci.retentionDays")
    try:
        grace = float(grace_raw) if grace_raw is not None else 5.0
        retention = float(retention_raw) if retention_raw is not None else None
    except ValueError as exc:
        raise LightciError(
            f"invalid number in git config lightci.killGrace or "
            f"lightci.retentionDays: {exc}"
        ) from exc
    return Settings(
        max_parallel=_positive_int(config, "lightci.maxParallel", os.cpu_count() or 1),
        max_runs=_positive_int(config, "lightci.maxRuns", 1),
        max_log_size=_positive_int(config, "lightci.maxLogSize", DEFAULT_MAX_LOG_BYTES),
        url=_get(config, "lightci.url"),
        kill_grace=grace,
        retention_days=retention,
        job_timeout=_job_timeout(config),
    )


DEFAULT_JOB_TIMEOUT = 6 * 3600.0


def _job_timeout(config: pygit2.Config) -> float | None:
    """Return the time limit of a job without ``timeout:``; 0 or ``none`` lifts it."""
    raw = _get(config, "lightci.jobTimeout")
    if raw is None:
        return DEFAULT_JOB_TIMEOUT
    if raw.strip().lower() in ("0", "none", "never"):
        return None
    from lightci.pipeline import parse_duration

    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise LightciError(
            f"git config lightci.jobTimeout is {raw!r}, not a duration such as "
            f"90m or 6h: {exc}; fix it with `git config lightci.jobTimeout 6h`"
        ) from exc
