#!/usr/bin/env bash
# Installs plyvel 1.5.1 into a venv, built against a LevelDB that reads table files
# with pread instead of mmap. `make setup` runs it before installing the project, so
# pip finds plyvel already there and does not fetch the PyPI wheel.
#
# Why: the wheel's LevelDB mmaps up to 1000 table files (kDefaultMmapLimit in
# util/env_posix.cc; no option turns it off), and every page a read or a compaction
# touches then counts in the node's RSS until the table is closed: +20-25 MB during
# compactions. With the limit patched to 0, tables are read with pread through the
# page cache, which is not process RSS (see common/leveldb.py).
#
# How: LevelDB 1.23 and snappy 1.1.9 (the wheel's compression library, which old
# tables need) from Debian's source archive, SHA-256 pinned, with two of Debian's
# fixes (LevelDB keeps RTTI: plyvel subclasses leveldb::Comparator; an `inline` that
# gcc needs to build snappy with -fPIC), built as one static PIC archive that is
# linked into plyvel's extension, so nothing is needed at run time. Compiles run
# under `nice -n 19`; the work goes to build/plyvel/ (gitignored).
#
# Usage: tools/build-plyvel.sh VENV. Does nothing when VENV's plyvel already is this
# build (a stamp holding this script's hash, and a check that reads a table).
set -euo pipefail

venv=$(cd "${1:?usage: $0 VENV}" && pwd)
py="$venv/bin/python"
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
work="$(dirname "$(dirname "$script")")/build/plyvel"
stamp="$venv/.plyvel-no-mmap"
version=$(sha256sum "$script" | cut -c1-64)  # a changed script rebuilds

# Debian's source archive (bookworm); snappy 1.1.9 is also what the wheel bundles.
pool=http://deb.debian.org/debian/pool/main
leveldb=leveldb-1.23 leveldb_sha256=9a37f8a6174f09bd622bc723b55881dc541cd50747cbd08831c2a82d620f6d76
snappy=snappy-1.1.9 snappy_sha256=75c1fbb3d618dd3a0483bff0e26d0a92b495bbe5059c8b4f1c962b478b6e06e7

# Succeeds when the venv's plyvel read a table file without mapping it.
no_mmap() {
    "$py" - <<'EOF'
import pathlib, sys, tempfile
import plyvel
with tempfile.TemporaryDirectory() as path:
    db = plyvel.DB(path, create_if_missing=True)
    db.put(b"key", b"value")
    db.compact_range()  # memtable -> .ldb table file
    assert db.get(b"key") == b"value"
    mapped = ".ldb" in pathlib.Path("/proc/self/maps").read_text()
    db.close()
sys.exit(mapped)
EOF
}

if [ "$(cat "$stamp" 2>/dev/null)" = "$version" ] && no_mmap 2>/dev/null; then
    exit 0
fi

# fetch URL SHA256: download (once) and check a tarball, then unpack it into src/.
fetch() {
    local tarball
    tarball="$work/$(basename "$1")"
    [ -f "$tarball" ] || { "$py" -c 'import sys, urllib.request
urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$tarball.part" &&
        mv "$tarball.part" "$tarball"; }
    echo "$2  $tarball" | sha256sum --check --quiet - || { rm -f "$tarball"; exit 1; }
    tar -xzf "$tarball" -C "$work/src"
}

# patch FILE SED-SCRIPT: edit FILE; fail when that changes nothing (source changed?).
patch() {
    cp "$1" "$1.orig"
    sed -i "$2" "$1"
    ! cmp -s "$1" "$1.orig" || { echo "$0: pattern not found in $1: $2" >&2; exit 1; }
}

# cmake_build NAME ARGS...: configure, build (-j2) and install into prefix/.
cmake_build() {
    local name=$1
    shift
    nice -n 19 cmake -S "$work/src/$name" -B "$work/obj/$name" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
        -DCMAKE_INSTALL_PREFIX="$work/prefix" -DCMAKE_INSTALL_LIBDIR=lib "$@" >/dev/null
    nice -n 19 cmake --build "$work/obj/$name" -j2 >/dev/null
    cmake --install "$work/obj/$name" >/dev/null
}

echo "building plyvel against a LevelDB without mmap reads in $work (~15 s)"
mkdir -p "$work"
rm -rf "$work/src" "$work/obj" "$work/prefix"
mkdir -p "$work/src" "$work/obj/snappy-objects"
fetch "$pool/s/snappy/snappy_1.1.9.orig.tar.gz" "$snappy_sha256"
fetch "$pool/l/leveldb/leveldb_1.23.orig.tar.gz" "$leveldb_sha256"
patch "$work/src/$leveldb/util/env_posix.cc" \
    's/^\(constexpr const int kDefaultMmapLimit = \)(sizeof(void\*) >= 8) ? 1000 : 0;$/\10;/'
patch "$work/src/$leveldb/CMakeLists.txt" '/ -fno-rtti")$/d'
patch "$work/src/$snappy/snappy.cc" 's/^size_t AdvanceToNextTag(/inline &/'  # for gcc -fPIC

cmake_build "$snappy" -DSNAPPY_BUILD_TESTS=OFF -DSNAPPY_BUILD_BENCHMARKS=OFF
cmake_build "$leveldb" -DLEVELDB_BUILD_TESTS=OFF -DLEVELDB_BUILD_BENCHMARKS=OFF \
    -DHAVE_SNAPPY=ON -DHAVE_CRC32C=OFF -DHAVE_TCMALLOC=OFF \
    -DCMAKE_CXX_FLAGS="-I$work/prefix/include" -DCMAKE_EXE_LINKER_FLAGS="-L$work/prefix/lib"
# One archive, so plyvel's `-lleveldb` links snappy too.
(cd "$work/obj/snappy-objects" && ar x "$work/prefix/lib/libsnappy.a" &&
    ar rs "$work/prefix/lib/libleveldb.a" ./*.o)

CFLAGS="-I$work/prefix/include" CXXFLAGS="-I$work/prefix/include" LDFLAGS="-L$work/prefix/lib" \
    nice -n 19 "$py" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps \
    --no-binary plyvel plyvel==1.5.1
no_mmap || { echo "$0: plyvel in $venv still maps table files" >&2; exit 1; }
echo "$version" >"$stamp"
