import contextlib
import io
import tempfile
import unittest
from pathlib import Path

from wordcount.cli import main


class CliTest(unittest.TestCase):
    def test_prints_counts_of_all_files(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            first = Path(folder, "a.txt")
            second = Path(folder, "b.txt")
            first.write_text("red green red\n", encoding="utf-8")
            second.write_text("red blue\n", encoding="utf-8")
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                status = main([str(first), str(second), "--top", "2"])
        self.assertEqual(status, 0)
        self.assertEqual(output.getvalue().split(), ["3", "red", "1", "blue"])


if __name__ == "__main__":
    unittest.main()
