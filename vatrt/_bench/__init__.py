"""Load scenarios for ``vatrt bench`` and ``benchmarks/`` (see `scenarios`)."""
