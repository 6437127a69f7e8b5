"""The regulator's side of the peer (DESIGN §7, DOMAIN §6, issue 7).

* `store`: the indicator database (`regulator.db`), one sync `WriteBatch` per block.
* `projections`: pure functions from committed voucher/loan/receipt JSON to the
  rows and aggregate contributions the indicator tables keep.
* `detectors`: the suspicious-pattern detectors of DOMAIN §6.2.
* `indicators`: the `CommitListener` that keeps the tables as blocks commit,
  catch-up from the ledger, and `rebuild`.
* `queries`: the read side (exposure, overdue, LTV, exceptions, alerts, lineage).
* `auth`, `watch`, `service`: signed requests, the live feed and the gRPC servicer.
"""
