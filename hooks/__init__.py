"""The git hook scripts that ``lightci install`` copies into repositories.

This folder is a package only so that the scripts ship inside lightci's
distribution and can be found with ``importlib.resources``.
"""
