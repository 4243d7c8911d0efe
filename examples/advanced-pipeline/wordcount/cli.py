"""``python3 -m wordcount.cli FILE... [--top N]``: print the most frequent words."""

from __future__ import annotations

import argparse
import sys

from wordcount.core import top_words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wordcount")
    parser.add_argument("files", nargs="+", help="text files to read")
    parser.add_argument("--top", type=int, default=10, help="how many words to print")
    arguments = parser.parse_args(argv)

    text = []
    for name in arguments.files:
        with open(name, encoding="utf-8") as handle:
            text.append(handle.read())
    for word, count in top_words("\n".join(text), arguments.top):
        print(f"{count:6d} {word}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
