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
"""

from client.checkpoint import Checkpointer, FileCheckpointer, InMemoryCheckpointer
from client.commit import Commit, Status
from client.contract import Contract
from client.errors import (
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
    "BlockEvents",
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
