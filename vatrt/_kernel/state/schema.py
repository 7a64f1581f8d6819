"""The kernel's key-value layout: every key the kernel writes, in one screen.

Key schema (every key the kernel writes; values are strings)::

    kernel.schemaVersion = "3"          2: vats retain their vatParameters;
                                        3: one key per promise record
    kernel.initialized = "1"            first boot done: static vats started, bootstrap queued
    kernel.bootstrapResult = kpN        the bootstrap message's result promise
    kernel.crankNumber = N              cranks committed so far
    kernel.vatAdminCallbacks = koN      vat-admin's callbacks object (one count)
    kernel.upgrade.nextID = N           next upgrade request id (upN)
    kernel.upgradeResult.upN = kpN      kernel-decided: settles when upgrade upN is done

    vat.nextID = N                      next vat id (vN)
    vat.names = JSON [name, ...]        live vats, in creation order
    vat.name.<name> = vN
    vN.options = JSON {name, critical, reapInterval, dynamic, privileged,
                       worker?, limits?, restart?}
    vN.source = b1-<sha256>             the bundle this incarnation runs
    vN.incarnation = N                  0 at creation, +1 per upgrade
    vN.vatParameters = JSON capdata     retained vatParameters; absent = none (schema < 2)
    vN.root = koN                       the root object (kept across upgrades)
    vN.adminNode = koN                  a dynamic vat's admin node (vat-admin's object)
    vN.createResult = kpN               kernel-decided: settles when the vat starts or fails
    vN.done = kpN                       kernel-decided: settles when the vat ends
    vN.reapCountdown = N                deliveries left until bring-out-your-dead
    vN.t.next = N                       next transcript position (stores that keep them)
    vN.options.restartEvery = N         (in vN.options) bounded replay: restart at N deliveries
    vN.o.nextID = N, vN.p.nextID = N    next import vrefs o-N / p-N
    vN.c.<kref> = "R <vref>" | "_ <vref>"   c-list kernel->vat; R: reachable by the vat
    vN.c.<vref> = <kref>                c-list vat->kernel
    vN.vs.<key> = value                 vatstore: the vat's durable state
    vN.workerRestarts = JSON {count, last}  the supervisor replaced its worker process
                                        (absent until it first does)

    ko.nextID = N, kp.nextID = N
    koN.owner = vN                      absent once the owning vat is gone
    koN.refCount = "<reachable>,<recognizable>"
    kpN.record = JSON {state, refCount, decider?, subscribers?, queue?, data?}
                                        state: unresolved | fulfilled | rejected;
                                        decider: vN, absent while no vat may resolve it;
                                        subscribers: [vA, vB]; queue: [message, ...],
                                        sends waiting for a resolution; data: capdata,
                                        the resolution (schema < 3: kpN.state,
                                        kpN.decider, kpN.subscribers = "vA,vB",
                                        kpN.queue, kpN.data, kpN.refCount)

    runQueue.head = N, runQueue.tail = N, runQueue.<n> = JSON event
                                        (kernel-initiated upgrades go in at the head,
                                        so N may be negative)
    gcActions = JSON ["vN dropExport koN" | "vN retireExport koN" | "vN retireImport koN", ...]
                                        (typed as `GCAction` in memory; sorted)
    bundle.<id> = JSON {filename, source}
    namedBundle.<name> = bundle id      config bundles by name
    host.pin.<kpid> = "1"               a promise the host holds (one count)

Who writes what: `keeper.KernelKeeper` owns the kernel-wide keys, the object
and promise records, the run-queue and ``gcActions``; `vat_keeper.VatKeeper`
owns every ``vN.*`` key of one vat (its c-list through `clist.CList`). No other
module writes a key.
"""

from __future__ import annotations

from typing import Any

import orjson

SCHEMA_VERSION = 3


def loads(text: str) -> Any:
    return orjson.loads(text)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
