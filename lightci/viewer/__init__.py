"""The web viewer: a read-only bottle application over lightci\x27s records."""
