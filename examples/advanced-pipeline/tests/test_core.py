import unittest

from wordcount import count_words, top_words


class CountWordsTest(unittest.TestCase):
    def test_case_is_ignored(self) -> None:
        self.assertEqual(count_words("Tea tea TEA")["tea"], 3)

    def test_punctuation_and_digits_split_words(self) -> None:
        counts = count_words("one,two3three don't")
        self.assertEqual(set(counts), {"one", "two", "three", "don't"})

    def test_top_words_breaks_ties_alphabetically(self) -> None:
        self.assertEqual(top_words("b a b a c", 2), [("a", 2), ("b", 2)])

    def test_negative_limit_is_rejected(self) -> None:
        with self.assertRaises(ValueError):
            top_words("a", -1)


if __name__ == "__main__":
    unittest.main()
