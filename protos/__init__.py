"""Protobuf definitions (*.proto) and the Python code generated from them.

Fabric-compatible messages keep Fabric's proto packages (common, msp, protos, rwset,
kvrwset, orderer, gateway); `scf/` holds our own. Regenerate with
`python -m protos.generate`; generated modules are never edited by hand.
"""
