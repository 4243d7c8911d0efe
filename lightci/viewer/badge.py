"""SVG status badges, like those of other CI services, for READMEs."""

from __future__ import annotations

from html import escape

# Badge colours by status; the page colours in style.css follow the same scheme.
BADGE_COLOURS = {
    "passed": "#2da44e",
    "failed": "#cf222e",
    "error": "#bf3989",
    "timed-out": "#cf222e",
    "running": "#d4a72c",
    "queued": "#d4a72c",
    "cancelled": "#8c959f",
    "skipped": "#8c959f",
}
UNKNOWN_COLOUR = "#8c959f"

# Approximate advance widths of Verdana 11px, the usual badge font, so the
# boxes fit the text without measuring it; other characters count as 7 px.
_NARROW = set("ijlI.,:;|!'() ")
_WIDE = set("mwMW@%")


def _text_width(text: str) -> int:
    width = 0.0
    for character in text:
        if character in _NARROW:
            width += 3.5
        elif character in _WIDE:
            width += 10
        else:
            width += 7
    return int(width) + 10


def render_badge(status: str | None, label: str = "lightci") -> str:
    """Return an SVG badge with ``label`` on the left and the status on the right."""
    value = status or "no runs"
    colour = BADGE_COLOURS.get(status or "", UNKNOWN_COLOUR)
    left = _text_width(label)
    right = _text_width(value)
    total = left + right
    label_text = escape(label)
    value_text = escape(value)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" \
role="img" aria-label="{label_text}: {value_text}">
<title>{label_text}: {value_text}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" \
stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)">
<rect width="{left}" height="20" fill="#555"/>
<rect x="{left}" width="{right}" height="20" fill="{colour}"/>
<rect width="{total}" height="20" fill="url(#s)"/>
</g>
<g fill="#fff" text-anchor="middle" \
font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{left / 2}" y="15" fill="#010101" fill-opacity=".3">{label_text}</text>
<text x="{left / 2}" y="14">{label_text}</text>
<text x="{left + right / 2}" y="15" fill="#010101" fill-opacity=".3">{value_text}</text>
<text x="{left + right / 2}" y="14">{value_text}</text>
</g>
</svg>
"""
