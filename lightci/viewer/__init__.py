"""The web viewer: a read-only bottle application over lightci's records.

``app`` wires the routes, ``pages`` builds each page's data, ``queries``
reads the store, ``live`` streams a running run, ``ansi`` renders logs,
``githttp`` serves git's smart HTTP and ``downloads`` streams artifacts.
"""
