"""liveslots: the runtime inside each vat. Imports no anyio, no store, no kernel."""
