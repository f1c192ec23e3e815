# Sourced by the package tests: their verdicts and the checks that make a test skip (77) instead of fail.
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
skip() { echo "SKIP: $*"; exit 77; }

# check_exposition <file>: a scraped page through tests/lib's exposition check (prom_text.py: parses, no duplicate
# series, one set of label names per family).
EPC_TESTLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
check_exposition() {
  python3 "$EPC_TESTLIB_DIR/prom_text.py" "$@" || fail "exposition check failed: $*"
}

# need_tools HINT TOOL...: skip unless every TOOL is on PATH ("<tool> not found (HINT)").
need_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || skip "$tool not found ($hint)"
  done
}

# need_root_and_mount_ns WHY: skip unless root (WHY says what for) and a private mount namespace can be made.
need_root_and_mount_ns() {
  [ "$(id -u)" = 0 ] || skip "needs root ($1; CI runs as root)"
  command -v unshare >/dev/null || skip "unshare not found (util-linux)"
  unshare --mount --propagation private true 2>/dev/null || skip "cannot create a mount namespace here"
}

# need_deb DIR: skip unless package_deb_build left the .deb's path in DIR/deb-path.
need_deb() {
  [ -s "$1/deb-path" ] || skip "no .deb: package_deb_build did not run or failed"
}

# deb_root_test_args DEB_DIR FIXTURE WORK: the arguments of the tests that install the .deb into a Debian root:
# sets DIR, FIXTURE and WORK (absolute) and SUITE, the Debian release of the root.
deb_root_test_args() {
  [ $# -eq 3 ] || { echo "usage: $0 <deb dir> <fixture rootfs> <work dir>" >&2; exit 2; }
  DIR=$1
  FIXTURE=$(realpath "$2")
  WORK=$(realpath -m "$3")
  SUITE=bookworm
}
