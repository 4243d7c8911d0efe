"""One module per subcommand; each does its work in plain typed functions."""
