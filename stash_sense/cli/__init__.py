"""Command line (``python -m stash_sense``): one module per command group, each a thin layer over the library."""
