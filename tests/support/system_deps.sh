#!/bin/sh
# System packages for the test suite's real-server legs: a PostgreSQL server (initdb/pg_ctl)
# and headless Chromium with CJK fonts. Run by `make test` before pytest.
#
# Idempotent and quiet: prints nothing when everything is present. When something is missing
# and we are root with apt-get, installs the Debian packages (apt output goes to a log file in
# the system temp dir). When it cannot install, it says which tests will be skipped and how to
# install by hand. It never fails: it always exits 0.
#
# Environment:
#   TRIAGE_SKIP_SYSTEM_DEPS=1   do nothing (the affected tests skip themselves)
#   TRIAGE_TEST_PG_URL          an existing server is used: no local PostgreSQL needed
#   TRIAGE_TEST_CHROMIUM        path of a Chromium to use instead of /usr/bin/chromium

if [ "${TRIAGE_SKIP_SYSTEM_DEPS:-}" = "1" ]; then
    exit 0
fi

LOG="${TMPDIR:-/tmp}/triage-system-deps.log"

have_pg() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        return 0
    fi
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            return 0
        fi
    done
    return 1
}

have_chromium() {
    if [ -n "${TRIAGE_TEST_CHROMIUM:-}" ] && [ -x "${TRIAGE_TEST_CHROMIUM}" ]; then
        return 0
    fi
    [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1
}

have_chromedriver() {
    [ -x /usr/bin/chromedriver ] || command -v chromedriver >/dev/null 2>&1
}

have_cjk_fonts() {
    for f in /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
             /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc; do
        [ -f "$f" ] && return 0
    done
    return 1
}

# The Debian packages still missing, space separated.
missing_packages() {
    pkgs=""
    if [ -z "${TRIAGE_TEST_PG_URL:-}" ] && ! have_pg; then
        pkgs="$pkgs postgresql"
    fi
    have_chromium || pkgs="$pkgs chromium"
    have_chromedriver || pkgs="$pkgs chromium-driver"
    have_cjk_fonts || pkgs="$pkgs fonts-noto-cjk"
    echo "$pkgs"
}

# True when apt's package lists know a candidate version of every package given.
apt_knows() {
    for p in "$@"; do
        cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
            return 1
        fi
    done
    return 0
}

apt_update() {
    echo "== apt-get update" >>"$LOG"
    apt-get update -o Acquire::Retries=1 >>"$LOG" 2>&1
}

apt_install() {
    echo "== apt-get install $*" >>"$LOG"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@" >>"$LOG" 2>&1
}

try_install() {
    # $@: packages. Returns non-zero when apt could not install them.
    updated=0
    if ! apt_knows "$@"; then
        apt_update || return 1
        updated=1
    fi
    if apt_install "$@"; then
        return 0
    fi
    # Stale package lists give 404s on download: refresh them once and try again.
    if [ "$updated" = 0 ]; then
        apt_update && apt_install "$@"
        return $?
    fi
    return 1
}

MISSING=$(missing_packages)
[ -z "$MISSING" ] && exit 0

# shellcheck disable=SC2086  # word splitting of the package list is intended
set -- $MISSING
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    start=$(date +%s)
    : >"$LOG"
    echo "system_deps: installing Debian packages:$MISSING (log: $LOG) ..."
    try_install "$@"
    STILL=$(missing_packages)
    if [ -z "$STILL" ]; then
        echo "system_deps: installed$MISSING in $(( $(date +%s) - start ))s"
        exit 0
    fi
    echo "system_deps: apt-get could not provide$STILL (see $LOG)"
    MISSING=$STILL
    set -- $MISSING
    how="apt-get install --no-install-recommends"
else
    how="sudo apt-get install --no-install-recommends"
fi

for p in "$@"; do
    case "$p" in
    postgresql)
        echo "system_deps: no PostgreSQL server (initdb/pg_ctl): the PostgreSQL tests will be" \
             "SKIPPED; install it with '$how postgresql' or set TRIAGE_TEST_PG_URL" ;;
    chromium)
        echo "system_deps: no /usr/bin/chromium: the browser tests will be SKIPPED; install it" \
             "with '$how chromium fonts-noto-cjk' or set TRIAGE_TEST_CHROMIUM" ;;
    chromium-driver)
        echo "system_deps: no chromedriver (not needed by the tests yet); install it with" \
             "'$how chromium-driver'" ;;
    fonts-noto-cjk)
        echo "system_deps: no CJK fonts: Chinese text in browser screenshots will show as boxes;" \
             "install them with '$how fonts-noto-cjk'" ;;
    esac
done
exit 0
