"""Regenerate the Python code for every ``.proto`` file under ``protos/``.

Usage (from anywhere; paths are resolved against the repository root)::

    python -m protos.generate           # regenerate in place
    python -m protos.generate --check   # exit 1 if the checked-in code is stale

Contract:

* Every ``*.proto`` below ``protos/`` (recursively, sorted) is compiled in one
  ``grpc_tools.protoc`` run from the repository root with ``-I .``, so a file
  ``protos/x/y.proto`` yields ``protos/x/y_pb2.py``, ``y_pb2.pyi`` and ``y_pb2_grpc.py``,
  imported as ``protos.x.y_pb2``, and imports between our files are written
  ``import "protos/x/y.proto";``.
* Output is first written to a temporary directory, then compared with the tree.
  Generating copies only files whose bytes differ and deletes generated files whose
  ``.proto`` is gone; ``--check`` changes nothing and reports those differences.
* Every directory from ``protos/`` down to a ``.proto`` must be a Python package.
  ``__init__.py`` files are not protoc output: they are meant to be written by hand
  (with a docstring). Generating creates a missing one as a placeholder and says so;
  ``--check`` reports it as not checked in.

The result depends only on the ``.proto`` files and the pinned ``grpcio-tools``
version, so the check is reproducible.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import grpc_tools

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTOS_DIR = REPO_ROOT / "protos"
# The well-known types (google/protobuf/*.proto) bundled with grpcio-tools.
WELL_KNOWN_INCLUDE = Path(grpc_tools.__file__).resolve().parent / "_proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


class GenerateError(Exception):
    """protoc failed, or the tree is not in a state generation can work on."""


@dataclass
class Diff:
    """Differences between freshly generated code and the tree, as repo-relative paths.

    ``changed`` exist in both but differ, ``missing`` are generated but absent from the
    tree, ``stale`` are generated-looking files in the tree that protoc no longer emits,
    ``inits`` are package ``__init__.py`` files that do not exist.
    """

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    inits: list[str] = field(default_factory=list)

    def is_clean(self) -> bool:
        return not (self.changed or self.missing or self.stale or self.inits)

    def lines(self, *, applied: bool) -> list[str]:
        """One line per path; ``applied`` words them as done rather than as found."""
        words = (
            ("updated", "added", "removed", "created placeholder")
            if applied
            else ("differs", "not checked in", "stale (no .proto)", "missing package file")
        )
        groups = (self.changed, self.missing, self.stale, self.inits)
        return [
            f"{word}: {path}" for word, paths in zip(words, groups, strict=True) for path in paths
        ]


def proto_files(root: Path = REPO_ROOT) -> list[str]:
    """All ``.proto`` files under ``root/protos``, repo-relative POSIX paths, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in (root / "protos").rglob("*.proto"))


def is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


def missing_package_inits(root: Path = REPO_ROOT) -> list[str]:
    """Directories from ``protos/`` down to each ``.proto`` lacking an ``__init__.py``."""
    missing: set[str] = set()
    for rel in proto_files(root):
        directory = (root / rel).parent
        while True:
            if not (directory / "__init__.py").is_file():
                missing.add((directory / "__init__.py").relative_to(root).as_posix())
            if directory == root / "protos":
                break
            directory = directory.parent
    return sorted(missing)


def run_protoc(out_dir: Path, root: Path = REPO_ROOT) -> None:
    """Compile every proto under ``root/protos`` into ``out_dir`` (same relative layout).

    Runs protoc in a subprocess with the repository root as working directory, so the
    file names recorded in the descriptors are the repo-relative ones.
    """
    files = proto_files(root)
    if not files:
        raise GenerateError(f"no .proto files under {root / 'protos'}")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I",
        ".",
        "-I",
        str(WELL_KNOWN_INCLUDE),
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GenerateError(f"protoc failed ({result.returncode}):\n{result.stderr}")


def generated_files(base: Path) -> list[str]:
    """Generated files under ``base/protos``, paths relative to ``base``, sorted."""
    protos = base / "protos"
    if not protos.is_dir():
        return []
    return sorted(
        p.relative_to(base).as_posix() for p in protos.rglob("*") if p.is_file() and is_generated(p)
    )


def compare(fresh: Path, root: Path = REPO_ROOT) -> Diff:
    """Compare generated code in ``fresh`` with the generated code checked in at ``root``."""
    new = set(generated_files(fresh))
    old = set(generated_files(root))
    diff = Diff(missing=sorted(new - old), stale=sorted(old - new))
    for rel in sorted(new & old):
        if not filecmp.cmp(fresh / rel, root / rel, shallow=False):
            diff.changed.append(rel)
    return diff


def check(root: Path = REPO_ROOT) -> Diff:
    """Regenerate into a temporary directory and report how the tree differs."""
    with tempfile.TemporaryDirectory(prefix="protos-check-") as tmp:
        run_protoc(Path(tmp), root)
        diff = compare(Path(tmp), root)
    diff.inits = missing_package_inits(root)
    return diff


def generate(root: Path = REPO_ROOT) -> Diff:
    """Regenerate in place; returns what was updated, added, removed and created."""
    with tempfile.TemporaryDirectory(prefix="protos-gen-") as tmp:
        fresh = Path(tmp)
        run_protoc(fresh, root)
        diff = compare(fresh, root)
        for rel in diff.changed + diff.missing:
            shutil.copyfile(fresh / rel, root / rel)
    for rel in diff.stale:
        (root / rel).unlink()
    diff.inits = missing_package_inits(root)
    for rel in diff.inits:
        package = (root / rel).parent.relative_to(root).as_posix().replace("/", ".")
        (root / rel).write_text(f'"""Generated protobuf code for `{package}`."""\n')
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m protos.generate", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the checked-in generated code is not up to date",
    )
    args = parser.parse_args(argv)
    try:
        # REPO_ROOT is looked up at call time (tests point it at a scratch tree).
        diff = check(REPO_ROOT) if args.check else generate(REPO_ROOT)
    except GenerateError as err:
        print(f"protos.generate: {err}", file=sys.stderr)
        return 2
    if args.check:
        if diff.is_clean():
            count = len(proto_files(REPO_ROOT))
            print(f"protos: generated code is up to date ({count} .proto files)")
            return 0
        print("protos: generated code is out of date; run `make protos`:", file=sys.stderr)
        for line in diff.lines(applied=False):
            print(f"  {line}", file=sys.stderr)
        return 1
    for line in diff.lines(applied=True):
        print(line)
    print(f"protos: generated code for {len(proto_files(REPO_ROOT))} .proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
