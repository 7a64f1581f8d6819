"""The kernel: crank loop, c-lists, refcounts and GC, promises, vats' lifecycle."""
