"""Everything that touches the outside world: stores, files, the command line."""
