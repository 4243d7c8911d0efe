"""Count the words of a text: a tiny package that the example pipeline tests."""

from wordcount.core import count_words, top_words

__all__ = ["count_words", "top_words"]
