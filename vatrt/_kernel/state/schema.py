"""The kernel's key-value layout: every key the kernel writes, in one screen.

Key schema (every key the kernel writes; values are strings)::

    kernel.schemaVersion = "4"          2: vats retain their vatParameters;
                                        3: one key per promise record;
                                        4: the run-queue in chunks
    kernel.initialized = "1"            first boot done: static vats started, bootstrap queued
    kernel.bootstrapResult = kpN        the bootstrap message's result promise
    kernel.config = JSON {source, sha256, vats}   the config the first boot used: its
                                        file (or "<dict>"), the hash of what it declares,
                                        its vats' names (`config_identity`)
    kernel.crankNumber = N              cranks committed so far
    kernel.vatAdminCallbacks = koN      vat-admin's callbacks object (one count)
    kernel.upgrade.nextID = N           next upgrade request id (upN)
    kernel.upgradeResult.upN = kpN      kernel-decided: settles when upgrade upN is done

    vat.nextID = N                      next vat id (vN)
    vat.names = JSON [name, ...]        live vats, in creation order
    vat.name.<name> = vN
    vN.options = JSON {name, critical, reapInterval, dynamic, privileged, devices?,
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
    vN.restartRetryAt = N               bounded replay: a restart failed; try again once the
                                        transcript is N long (absent otherwise)
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

    runQueue.head = N, runQueue.tail = N   live events: positions [head, tail)
                                        (kernel-initiated upgrades go in at the head,
                                        so N may be negative)
    runQueue.<k> = JSON [n, event, ...]  chunk k: the events of positions n, n+1, ...
                                        within [64k, 64k + 64); those below head are
                                        consumed (schema < 4: runQueue.<n> = JSON event)
    gcActions = JSON ["vN dropExport koN" | "vN retireExport koN" | "vN retireImport koN", ...]
                                        (typed as `GCAction` in memory; sorted)
    device.nextID = N                   next device id (dN)
    device.names = JSON [name, ...]     devices, in config order (the timer's last)
    device.name.<name> = dN
    dN.options = JSON {name}
    dN.source = b1-<sha256>             the device's bundle (build_device)
    dN.deviceState = JSON capdata       what the device keeps (`DeviceTools.set_state`),
                                        in its own refs; the timer's: {when, handler}
    dN.c.<kref> = <dref>, dN.c.<dref> = <kref>   device c-list: d+N its nodes (d+0 the
                                        root) as kdN, o-N vat objects it imports (one
                                        count each, for good: devices do no GC)
    dN.o.nextID = N                     next import ref o-N of the device
    kd.nextID = N                       next device node kref (kdN)
    kdN.owner = dN                      device nodes have no refCount
    vN.c.kdN = "R d-N", vN.c.d-N = kdN  a vat's device node import (no count)
    kernel.timerConfig = JSON {source, auto_advance, start}   the [timer] in force
    kernel.time = JSON number           virtual time ([timer] source = "virtual"); absent
                                        until time first moves (then it is [timer] start)

    bundle.<id> = JSON {filename, source}
    namedBundle.<name> = bundle id      config bundles by name
    host.pin.<kpid> = "1"               a promise the host holds (one count)

Who writes what: `device_keeper.DeviceKeeper` owns the ``device.*``, ``dN.*``
and ``kdN.*`` keys, and `timer.Clock` ``kernel.time``;
`keeper.KernelKeeper` owns the other kernel-wide keys, the object
and promise records, the run-queue and ``gcActions``; `vat_keeper.VatKeeper`
owns every ``vN.*`` key of one vat (its c-list through `clist.CList`). No other
module writes a key.
"""

from __future__ import annotations

from typing import Any

import orjson

SCHEMA_VERSION = 4

# Run-queue positions per stored chunk (``runQueue.<k>``, see `KernelKeeper`).
RUN_QUEUE_CHUNK = 64


def loads(text: str) -> Any:
    return orjson.loads(text)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
