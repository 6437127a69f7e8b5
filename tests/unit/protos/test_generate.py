"""protos.generate: the checked-in generated code is current, and the check notices drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from protos import generate

TINY_PROTO = """\
syntax = "proto3";
package tiny;
import "protos/tiny/other.proto";
import "google/protobuf/timestamp.proto";
message Ping { Other other = 1; google.protobuf.Timestamp at = 2; }
service Echo { rpc Call(Ping) returns (Ping); }
"""
OTHER_PROTO = 'syntax = "proto3";\npackage tiny;\nmessage Other { string name = 1; }\n'


def test_checked_in_code_is_regenerated_exactly() -> None:
    diff = generate.check()
    assert diff.lines(applied=False) == []


def test_every_proto_is_found_in_sorted_order() -> None:
    files = generate.proto_files()
    assert files == sorted(files)
    for expected in (
        "protos/common/common.proto",
        "protos/gateway/gateway.proto",
        "protos/ledger/rwset/kvrwset/kv_rwset.proto",
        "protos/orderer/ab.proto",
        "protos/peer/transaction.proto",
    ):
        assert expected in files


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """A repository root holding protos/tiny/{ping,other}.proto and its packages."""
    package = tmp_path / "protos" / "tiny"
    package.mkdir(parents=True)
    (tmp_path / "protos" / "__init__.py").write_text("")
    (package / "__init__.py").write_text('"""Tiny."""\n')
    (package / "ping.proto").write_text(TINY_PROTO)
    (package / "other.proto").write_text(OTHER_PROTO)
    return tmp_path


def test_generate_then_check_is_clean(tiny_repo: Path) -> None:
    diff = generate.generate(tiny_repo)
    assert diff.missing == [
        f"protos/tiny/{name}{suffix}"
        for name in ("other", "ping")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    ]
    source = (tiny_repo / "protos/tiny/ping_pb2.py").read_text()
    # Imports between our files resolve as protos.<dir>.<name>_pb2.
    assert "from protos.tiny import other_pb2" in source
    assert "'/tiny.Echo/Call'" in (tiny_repo / "protos/tiny/ping_pb2_grpc.py").read_text()
    assert generate.check(tiny_repo).is_clean()
    # A second run changes nothing: generation is deterministic.
    assert generate.generate(tiny_repo).is_clean()


def test_check_reports_edited_missing_and_stale_files(tiny_repo: Path) -> None:
    generate.generate(tiny_repo)
    edited = tiny_repo / "protos/tiny/ping_pb2.py"
    edited.write_text(edited.read_text() + "# hand edit\n")
    (tiny_repo / "protos/tiny/other_pb2.pyi").unlink()
    (tiny_repo / "protos/tiny/gone_pb2.py").write_text("")
    diff = generate.check(tiny_repo)
    assert diff.changed == ["protos/tiny/ping_pb2.py"]
    assert diff.missing == ["protos/tiny/other_pb2.pyi"]
    assert diff.stale == ["protos/tiny/gone_pb2.py"]
    assert not diff.is_clean()
    # --check writes nothing.
    assert edited.read_text().endswith("# hand edit\n")
    # Generating repairs all three.
    generate.generate(tiny_repo)
    assert generate.check(tiny_repo).is_clean()
    assert not (tiny_repo / "protos/tiny/gone_pb2.py").exists()


def test_check_reports_a_changed_proto(tiny_repo: Path) -> None:
    generate.generate(tiny_repo)
    other = tiny_repo / "protos/tiny/other.proto"
    other.write_text(other.read_text().replace("name = 1", "name = 2"))
    # Field numbers live in the serialised descriptor in _pb2.py (the .pyi has none).
    assert generate.check(tiny_repo).changed == ["protos/tiny/other_pb2.py"]


def test_missing_package_init_is_reported_then_created(tiny_repo: Path) -> None:
    nested = tiny_repo / "protos/tiny/deep"
    nested.mkdir()
    shutil.copy(tiny_repo / "protos/tiny/other.proto", nested / "third.proto")
    (nested / "third.proto").write_text(OTHER_PROTO.replace("Other", "Third"))
    generate.generate(tiny_repo)
    (nested / "__init__.py").unlink()
    assert generate.check(tiny_repo).inits == ["protos/tiny/deep/__init__.py"]
    assert generate.generate(tiny_repo).inits == ["protos/tiny/deep/__init__.py"]
    assert (nested / "__init__.py").is_file()
    assert generate.check(tiny_repo).is_clean()


def test_protoc_errors_are_reported(tiny_repo: Path) -> None:
    (tiny_repo / "protos/tiny/ping.proto").write_text("syntax = nonsense")
    with pytest.raises(generate.GenerateError, match="protoc failed"):
        generate.check(tiny_repo)


def test_main_check_exit_status(tiny_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "REPO_ROOT", tiny_repo)
    assert generate.main(["--check"]) == 1
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
