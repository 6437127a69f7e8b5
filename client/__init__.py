"""The scfchain client SDK, thin like fabric-gateway (DESIGN §9).

```python
from client import Gateway, Identity
ident = Identity.from_msp_dir(".scf/net/crypto/orgs/core/users/User1/msp", "CoreMSP")
with Gateway.connect("127.0.0.1:8051", identity=ident, tls_root=ca_pem) as gw:
    contract = gw.network("trade").contract("receivable")
    out = contract.submit("IssueVoucher", json.dumps({...}))   # waits for commit
```

`Gateway` → `Network` → `Contract` → `Proposal` → `Transaction` → `Commit`, each
step with `digest()` for offline signing; block and chaincode event iterators with
checkpointers; one error type per stage.

By default every step is one unary call to the gateway peer, as Fabric's clients make
(Endorse, Submit, CommitStatus), so the SDK talks to Fabric peers unchanged.
`Gateway.connect(..., batching=True)` (or `batching=Batching(...)`; also
`Gateway.from_profile`) is the batching mode for scfchain peers: concurrent Endorse
and Submit calls on a connection travel together in `scf.GatewayBatch` calls (no
timer: at most 2 batch calls out per kind, the rest queue for the next one), and
`Commit.status()` learns commit statuses from one `DeliverFiltered` stream per channel,
falling back to the signed CommitStatus call when the stream cannot answer. The API,
the results and the errors are the same; a peer without the batch service (Fabric)
puts the connection back on the unary calls (`client.batching`).
"""

from client.batching import Batching
from client.checkpoint import Checkpointer, FileCheckpointer, InMemoryCheckpointer
from client.commit import Commit, Status
from client.contract import Contract
from client.errors import (
    CallFailure,
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    EventsError,
    GatewayError,
    SubmitError,
)
from client.events import BlockEvents, ChaincodeEvent, ChaincodeEvents
from client.gateway import Gateway, NoSignerError, Timeouts
from client.identity import Hash, Identity, Signer, private_key_signer, sha256
from client.network import Network
from client.profile import ConnectionProfile, ProfileError, load_profile
from client.proposal import Proposal
from client.transaction import Transaction

__all__ = [
    "Batching",
    "BlockEvents",
    "CallFailure",
    "ChaincodeEvent",
    "ChaincodeEvents",
    "Checkpointer",
    "Commit",
    "CommitError",
    "CommitStatusError",
    "ConnectionProfile",
    "Contract",
    "EndorseError",
    "ErrorDetail",
    "EvaluateError",
    "EventsError",
    "FileCheckpointer",
    "Gateway",
    "GatewayError",
    "Hash",
    "Identity",
    "InMemoryCheckpointer",
    "Network",
    "NoSignerError",
    "ProfileError",
    "Proposal",
    "Signer",
    "Status",
    "SubmitError",
    "Timeouts",
    "Transaction",
    "load_profile",
    "private_key_signer",
    "sha256",
]
