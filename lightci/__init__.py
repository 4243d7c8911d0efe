"""lightci: continuous integration stored inside the git repository it tests."""

__version__ = "0.1.0"
