"""The generated gRPC stubs and servicers use Fabric's method paths and shapes.

Clients (the Fabric Gateway SDKs, peer CLI, orderer clients) reach a method by its path
'/<proto package>.<Service>/<Method>', so these must be byte-for-byte Fabric's. We check
the generated Python code itself (stub and server registration) against the service
definitions exported by Fabric's @hyperledger/fabric-protos.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tests.unit.protos.fabric_js import JsonObject, run_node

# (our _pb2_grpc module, service name, fabric-protos export of the same service)
SERVICES = [
    ("protos.peer.peer_pb2_grpc", "Endorser", "peer.EndorserService"),
    ("protos.peer.events_pb2_grpc", "Deliver", "peer.DeliverService"),
    ("protos.orderer.ab_pb2_grpc", "AtomicBroadcast", "orderer.AtomicBroadcastService"),
    ("protos.gateway.gateway_pb2_grpc", "Gateway", "gateway.GatewayService"),
]

KINDS = {
    (False, False): "unary_unary",
    (False, True): "unary_stream",
    (True, False): "stream_unary",
    (True, True): "stream_stream",
}


class RecordingChannel:
    """Stands in for grpc.Channel: records each method a stub registers."""

    def __init__(self) -> None:
        self.methods: dict[str, tuple[str, str]] = {}

    def _record(self, kind: str) -> Any:
        def register(path: str, response_deserializer: Any, **_: Any) -> None:
            # FromString is bound to the response class; the request serializer is the
            # base class's unbound SerializeToString, so request types come from the
            # service descriptor instead (test_descriptor_matches_fabric).
            response = response_deserializer.__self__.DESCRIPTOR.full_name
            self.methods[path] = (kind, response)

        return register

    def __getattr__(self, name: str) -> Any:
        if name in KINDS.values():
            return self._record(name)
        raise AttributeError(name)


class RecordingServer:
    """Stands in for grpc.Server: records the handlers a servicer registers."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.paths.extend(f"/{service}/{method}" for method in handlers)


@pytest.fixture(scope="module")
def fabric_services() -> JsonObject:
    services: JsonObject = run_node({"services": [export for _, _, export in SERVICES]})["services"]
    return services


def test_the_paths_the_design_names_exist() -> None:
    # Spelled out so a rename is caught even if both sides were to drift together.
    paths = set()
    for module_name, service, _ in SERVICES:
        channel = RecordingChannel()
        getattr(importlib.import_module(module_name), f"{service}Stub")(channel)
        paths |= set(channel.methods)
    assert {
        "/protos.Endorser/ProcessProposal",
        "/protos.Deliver/Deliver",
        "/protos.Deliver/DeliverFiltered",
        "/protos.Deliver/DeliverWithPrivateData",
        "/orderer.AtomicBroadcast/Broadcast",
        "/orderer.AtomicBroadcast/Deliver",
        "/gateway.Gateway/Endorse",
        "/gateway.Gateway/Submit",
        "/gateway.Gateway/CommitStatus",
        "/gateway.Gateway/Evaluate",
        "/gateway.Gateway/ChaincodeEvents",
    } == paths


@pytest.mark.parametrize(("module_name", "service", "export"), SERVICES)
def test_stub_matches_fabric(
    module_name: str, service: str, export: str, fabric_services: JsonObject
) -> None:
    module = importlib.import_module(module_name)
    channel = RecordingChannel()
    getattr(module, f"{service}Stub")(channel)
    expected = {
        m["path"]: (KINDS[(m["requestStream"], m["responseStream"])], m["responseType"])
        for m in fabric_services[export]
    }
    assert channel.methods == expected


@pytest.mark.parametrize(("module_name", "service", "export"), SERVICES)
def test_descriptor_matches_fabric(
    module_name: str, service: str, export: str, fabric_services: JsonObject
) -> None:
    pb2 = importlib.import_module(module_name.removesuffix("_grpc"))
    desc = pb2.DESCRIPTOR.services_by_name[service]
    ours = sorted(
        (
            f"/{desc.full_name}/{m.name}",
            m.client_streaming,
            m.server_streaming,
            m.input_type.full_name,
            m.output_type.full_name,
        )
        for m in desc.methods
    )
    theirs = sorted(
        (m["path"], m["requestStream"], m["responseStream"], m["requestType"], m["responseType"])
        for m in fabric_services[export]
    )
    assert ours == theirs


@pytest.mark.parametrize(("module_name", "service", "export"), SERVICES)
def test_servicer_registers_fabric_paths(
    module_name: str, service: str, export: str, fabric_services: JsonObject
) -> None:
    module = importlib.import_module(module_name)
    server = RecordingServer()
    getattr(module, f"add_{service}Servicer_to_server")(
        getattr(module, f"{service}Servicer")(), server
    )
    assert sorted(server.paths) == sorted(m["path"] for m in fabric_services[export])
