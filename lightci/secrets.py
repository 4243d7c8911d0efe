"""Server-side secrets: a private file beside the repository's config, and masking.

The file ``<git_dir>/lightci-secrets`` contains one ``NAME=value`` line per
secret. A backslash, newline or carriage return in a value is written as
``\\\\``, ``\\n`` or ``\\r``, so a multi-line value (a private key) still
takes one line. The file is never added to any git object. Jobs see the
secrets they list under ``secrets:`` as environment variables, and every
log is passed through ``SecretMask`` so that no value reaches a log file,
the terminal or the run's record.
"""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from lightci.errors import LightciError
from lightci.logs import LogSink
from lightci.pipeline import SECRET_NAME

SECRETS_FILE = "lightci-secrets"
MASK = b"***"


def secrets_path(git_dir: Path) -> Path:
    return git_dir / SECRETS_FILE


def check_name(name: str) -> str:
    if not SECRET_NAME.fullmatch(name):
        raise LightciError(
            f"invalid secret name {name!r}; use upper-case letters, digits and "
            "'_', not starting with a digit, as in DEPLOY_TOKEN"
        )
    return name


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    replacements = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\[\\nr]", lambda match: replacements[match.group()], text)


def load_secrets(git_dir: Path) -> dict[str, str]:
    """Read the secrets file; return {} when there is none.

    Raises LightciError when the file can be read by its group or by others,
    because then the values are no longer secret.
    """
    path = secrets_path(git_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LightciError(
                f"secrets file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); make it private with "
                f"`chmod 600 {path}`"
            )
        text = handle.read()
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        if not separator or not SECRET_NAME.fullmatch(name):
            raise LightciError(
                f"{path}:{number}: invalid line; expected NAME=value. Fix it "
                "with `lightci secrets set NAME` or `lightci secrets unset NAME`"
            )
        values[name] = _unescape(value)
    return values


def _write_secrets(git_dir: Path, values: Mapping[str, str]) -> None:
    path = secrets_path(git_dir)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = "".join(f"{name}={_escape(values[name])}\n" for name in sorted(values))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.replace(temporary, path)


def set_secret(git_dir: Path, name: str, value: str) -> None:
    check_name(name)
    if not value:
        raise LightciError(f"the value of secret {name} is empty; nothing was set")
    values = load_secrets(git_dir)
    values[name] = value
    _write_secrets(git_dir, values)


def unset_secret(git_dir: Path, name: str) -> None:
    values = load_secrets(git_dir)
    if name not in values:
        raise LightciError(
            f"no secret {name!r} in {secrets_path(git_dir)}; "
            "`lightci secrets list` shows the names"
        )
    del values[name]
    _write_secrets(git_dir, values)


def secret_names(git_dir: Path) -> list[str]:
    return sorted(load_secrets(git_dir))


def mask_patterns(values: Iterable[str]) -> list[bytes]:
    """Return every form of the values that a log must not show, longest first.

    Each value is masked as it is, and in base64 (standard and URL-safe,
    with and without padding) of the value and of the value followed by a
    newline, which is what `echo "$X" | base64` prints.
    """
    patterns: set[bytes] = set()
    for value in values:
        raw = value.encode()
        if not raw:
            continue
        patterns.add(raw)
        for data in (raw, raw + b"\n"):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(data)
                patterns.add(encoded)
                patterns.add(encoded.rstrip(b"="))
    return sorted(patterns, key=lambda item: (-len(item), item))


class SecretMask:
    """A log sink that replaces secret values with ``***`` before passing data on.

    A value split across writes is still caught: an end of the data that
    could be the start of a value waits for the next write, and ``close``
    flushes it. Everything else passes on at once, so a live log lags by
    no more than such a partial value.

    NOTE: `base64` wraps its output at 76 columns, so the base64 form of a
    value longer than 56 bytes reaches the log in pieces that are not masked.
    """

    def __init__(self, sink: LogSink, values: Iterable[str]) -> None:
        self.sink = sink
        patterns = mask_patterns(values)
        self.longest = max((len(item) for item in patterns), default=0)
        self.prefixes = {
            item[:length] for item in patterns for length in range(1, len(item))
        }
        self.pattern = (
            re.compile(b"|".join(re.escape(item) for item in patterns))
            if patterns
            else None
        )
        self.pending = b""

    def _hold_start(self, buffer: bytes, position: int) -> int:
        """Return where the tail that could still grow into a value begins."""
        for start in range(max(position, len(buffer) - self.longest + 1), len(buffer)):
            if buffer[start:] in self.prefixes:
                return start
        return len(buffer)

    def write(self, data: bytes) -> None:
        if self.pattern is None:
            self.sink.write(data)
            return
        buffer = self.pending + data
        pieces: list[bytes] = []
        position = 0
        for match in self.pattern.finditer(buffer):
            # A match inside the held tail may be the start of a longer form.
            if match.start() >= self._hold_start(buffer, position):
                break
            pieces.append(buffer[position : match.start()])
            pieces.append(MASK)
            position = match.end()
        hold = self._hold_start(buffer, position)
        pieces.append(buffer[position:hold])
        self.pending = buffer[hold:]
        out = b"".join(pieces)
        if out:
            self.sink.write(out)

    def close(self) -> None:
        """Flush the bytes kept back for a match that might span writes."""
        if self.pending and self.pattern is not None:
            self.sink.write(self.pattern.sub(MASK, self.pending))
        self.pending = b""


def masking_filter(values: Iterable[str]) -> Callable[[LogSink], LogSink]:
    """Return a function that wraps a job's log in a SecretMask of ``values``."""
    kept = [value for value in values if value]

    def wrap(sink: LogSink) -> LogSink:
        return SecretMask(sink, kept)

    return wrap
