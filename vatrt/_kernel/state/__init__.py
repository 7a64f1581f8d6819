"""The kernel's state: the key schema, the keepers that own it, c-lists, refcounts.

No policy and no async here: what is legal is decided by the kernel's helpers;
this layer only keeps records, counts and their crank undo. It imports only the
store, marshal and ref formats.
"""
