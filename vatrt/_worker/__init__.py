"""How a vat runs. The kernel sees only `base`'s protocols; `local` and
`subprocess` are the kinds.

Nothing is imported here: a subprocess worker's child imports
`vatrt._worker.child` and must not pay for the kernel side (anyio, attrs).
"""
