"""Render job logs (bytes with ANSI escape sequences) as HTML.

SGR sequences (colours, bold, italic, ...) become ``<span>`` elements: the 16
basic colours as ``ansi-fg-N``/``ansi-bg-N`` classes that the style sheet
maps to a palette, 256-colour and truecolour values as inline styles. Every
other escape sequence (cursor moves, erase line, OSC titles and links) is
dropped. A line rewritten with carriage returns, as progress bars do, shows
only its last state. Bytes that are not valid UTF-8 become U+FFFD, and all
text is HTML-escaped, so a log can never inject markup.

The renderer keeps the SGR state between calls, so a log can be rendered in
pieces as it grows and each piece appended to what is already shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html import escape

# CSI sequences (ESC [ ... final byte), OSC sequences (ESC ] ... BEL or ST),
# other two-byte escapes, and C0 controls other than tab.
_ESCAPE = re.compile(
    r"\x1b\[(?P<csi>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)

# xterm's default values for the 6x6x6 colour cube and the grey ramp.
_CUBE_LEVELS = (0, 95, 135, 175, 215, 255)

Colour = int | str | None
"""An index 0-15 (a palette class), a CSS colour string, or None for default."""


@dataclass(frozen=True)
class SgrState:
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    blink: bool = False
    inverse: bool = False
    hidden: bool = False
    strike: bool = False
    foreground: Colour = None
    background: Colour = None


_DEFAULT = SgrState()


def xterm_colour(index: int) -> Colour:
    """Return a 256-colour index as a palette index (0-15) or a CSS hex colour."""
    if index < 16:
        return index
    if index < 232:
        cube = index - 16
        red, green, blue = cube // 36, (cube // 6) % 6, cube % 6
        return (
            f"#{_CUBE_LEVELS[red]:02x}{_CUBE_LEVELS[green]:02x}{_CUBE_LEVELS[blue]:02x}"
        )
    level = 8 + 10 * (index - 232)
    return f"#{level:02x}{level:02x}{level:02x}"


def _extended_colour(values: list[int], position: int) -> tuple[Colour, int]:
    """Read the colour after a 38 or 48 code; return it and the next position."""
    if position >= len(values):
        return None, position
    mode = values[position]
    if mode == 5 and position + 1 < len(values):
        index = values[position + 1]
        if 0 <= index <= 255:
            return xterm_colour(index), position + 2
        return None, position + 2
    if mode == 2 and position + 3 < len(values):
        red, green, blue = (
            min(max(v, 0), 255) for v in values[position + 1 : position + 4]
        )
        return f"#{red:02x}{green:02x}{blue:02x}", position + 4
    return None, len(values)


def _parse_parameters(text: str) -> list[int]:
    """Split SGR parameters; colon sub-parameters (``38:2::1:2:3``) count too."""
    if not text:
        return [0]
    values = []
    for group in text.split(";"):
        parts = group.split(":")
        if len(parts) > 1 and parts[0] in ("38", "48", "58") and parts[1] == "2":
            # ITU form 38:2:<colour space>:r:g:b, where the colour space may be
            # empty; keep the three last values.
            parts = [parts[0], "2", *parts[-3:]]
        for part in parts:
            values.append(int(part) if part.isdigit() else 0)
    return values


def apply_sgr(state: SgrState, parameters: str) -> SgrState:
    """Return the state after an SGR sequence ``ESC [ parameters m``."""
    values = _parse_parameters(parameters)
    position = 0
    while position < len(values):
        code = values[position]
        position += 1
        if code == 0:
            state = _DEFAULT
        elif code == 1:
            state = replace(state, bold=True)
        elif code == 2:
            state = replace(state, dim=True)
        elif code == 3:
            state = replace(state, italic=True)
        elif code == 4:
            state = replace(state, underline=True)
        elif code in (5, 6):
            state = replace(state, blink=True)
        elif code == 7:
            state = replace(state, inverse=True)
        elif code == 8:
            state = replace(state, hidden=True)
        elif code == 9:
            state = replace(state, strike=True)
        elif code in (21, 22):
            state = replace(state, bold=False, dim=False)
        elif code == 23:
            state = replace(state, italic=False)
        elif code == 24:
            state = replace(state, underline=False)
        elif code == 25:
            state = replace(state, blink=False)
        elif code == 27:
            state = replace(state, inverse=False)
        elif code == 28:
            state = replace(state, hidden=False)
        elif code == 29:
            state = replace(state, strike=False)
        elif 30 <= code <= 37:
            state = replace(state, foreground=code - 30)
        elif code == 38:
            colour, position = _extended_colour(values, position)
            state = replace(state, foreground=colour)
        elif code == 39:
            state = replace(state, foreground=None)
        elif 40 <= code <= 47:
            state = replace(state, background=code - 40)
        elif code == 48:
            colour, position = _extended_colour(values, position)
            state = replace(state, background=colour)
        elif code == 49:
            state = replace(state, background=None)
        elif code == 58:
            # Underline colour: parsed so its values are not read as codes.
            _, position = _extended_colour(values, position)
        elif 90 <= code <= 97:
            state = replace(state, foreground=code - 90 + 8)
        elif 100 <= code <= 107:
            state = replace(state, background=code - 100 + 8)
    return state


def _open_tag(state: SgrState) -> str:
    """Return the ``<span ...>`` for a state, or "" for the default state."""
    if state == _DEFAULT:
        return ""
    classes = []
    styles = []
    foreground, background = state.foreground, state.background
    if state.inverse:
        # The swapped default colours have their own classes, because the
        # page's default colours live in the style sheet.
        foreground, background = background, foreground
        if foreground is None:
            classes.append("ansi-fg-inverse")
        if background is None:
            classes.append("ansi-bg-inverse")
    for prefix, colour, css in (
        ("fg", foreground, "color"),
        ("bg", background, "background-color"),
    ):
        if isinstance(colour, int):
            classes.append(f"ansi-{prefix}-{colour}")
        elif isinstance(colour, str):
            styles.append(f"{css}:{colour}")
    for flag in ("bold", "dim", "italic", "underline", "blink", "hidden", "strike"):
        if getattr(state, flag):
            classes.append(f"ansi-{flag}")
    attributes = ""
    if classes:
        attributes += f' class="{" ".join(classes)}"'
    if styles:
        attributes += f' style="{";".join(styles)}"'
    return f"<span{attributes}>"


class AnsiRenderer:
    """Turns log bytes into HTML, one line at a time, keeping SGR state."""

    def __init__(self) -> None:
        self.state = _DEFAULT

    def render(self, data: bytes, *, final: bool = False) -> tuple[str, int]:
        """Render the complete lines of ``data``; return the HTML and bytes used.

        A trailing line without a newline is left for the next call, because
        a carriage return may still rewrite it, unless ``final`` is set.
        """
        end = data.rfind(b"\n") + 1
        if final:
            end = len(data)
        pieces = []
        lines = data[:end].split(b"\n")
        for index, raw_line in enumerate(lines):
            if index == len(lines) - 1 and not raw_line:
                break
            pieces.append(self._render_line(raw_line.decode("utf-8", "replace")))
            if index < len(lines) - 1:
                pieces.append("\n")
        return "".join(pieces), end

    def _render_line(self, text: str) -> str:
        segments = text.split("\r")
        while len(segments) > 1 and segments[-1] == "":
            segments.pop()
        for segment in segments[:-1]:
            # Overwritten text is not shown, but its SGR codes still count.
            for match in _ESCAPE.finditer(segment):
                self._apply(match)
        return self._render_segment(segments[-1])

    def _add_run(self, runs: list[tuple[SgrState, str]], piece: str) -> None:
        if not piece:
            return
        if runs and runs[-1][0] == self.state:
            runs[-1] = (self.state, runs[-1][1] + piece)
        else:
            runs.append((self.state, piece))

    def _apply(self, match: re.Match[str]) -> None:
        if match.group("final") == "m":
            self.state = apply_sgr(self.state, match.group("csi"))

    def _render_segment(self, text: str) -> str:
        runs: list[tuple[SgrState, str]] = []
        position = 0
        for match in _ESCAPE.finditer(text):
            self._add_run(runs, text[position : match.start()])
            position = match.end()
            self._apply(match)
        self._add_run(runs, text[position:])
        out = []
        for state, piece in runs:
            opening = _open_tag(state)
            out.append(opening)
            out.append(escape(piece, quote=False))
            if opening:
                out.append("</span>")
        return "".join(out)


def render_log(data: bytes) -> str:
    """Render a whole log as HTML."""
    html, _ = AnsiRenderer().render(data, final=True)
    return html


def strip_ansi(text: str) -> str:
    """Remove escape sequences and collapse carriage returns, for plain text."""
    lines = []
    for line in text.split("\n"):
        segments = line.split("\r")
        while len(segments) > 1 and segments[-1] == "":
            segments.pop()
        lines.append(_ESCAPE.sub("", segments[-1]))
    return "\n".join(lines)
