#!/usr/bin/env bash
# install.sh - install the QR gate kiosk on Raspberry Pi OS bookworm (or Debian 12 for labs).
#
#   sudo ./install.sh              install or upgrade: packages, user, venv, config, units
#   ./install.sh --dev             a development .venv in this checkout (no root needed)
#   sudo ./install.sh --uninstall  remove units, venv and user; keep config and data
#   sudo ./install.sh --uninstall --purge   ... and delete /etc/kiosk and /var/lib/kiosk too
#   ./install.sh --root DIR        lay the files out under DIR instead of /; start nothing
#
# Safe to run again: it changes only what is missing or out of date, never overwrites an
# edited /etc/kiosk/config.toml, and says what it did. See docs/ADMIN.md.

set -euo pipefail

readonly PROG="install.sh"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SRC

# Where things go (relative to --root). The units call $VENV/bin/kiosk.
readonly PREFIX=/opt/kiosk
readonly VENV=$PREFIX/venv
readonly SHARE=$PREFIX/share
readonly ETC=/etc/kiosk
readonly STATE=/var/lib/kiosk
readonly UNIT_DIR=/usr/local/lib/systemd/system
readonly UNITS=(kiosk.service kiosk-sync.service)
readonly WRAPPER=/usr/local/bin/kiosk
readonly SERVICE_USER=kiosk
readonly SERVICE_GROUPS=(gpio video render input audio)
readonly SYSTEM_PYTHON=/usr/bin/python3

# Debian packages. The venv sees the system site-packages, so the Pi's picamera2, lgpio and the
# pygame built against Debian's SDL2 (which, unlike the wheel's, has the KMS/DRM video driver)
# are used from here; numpy comes from Debian too, so picamera2's compiled parts match it.
readonly APT_COMMON=(python3 python3-venv python3-pip ca-certificates libzbar0 fonts-dejavu-core
    python3-numpy python3-pygame libsdl2-2.0-0 libsdl2-ttf-2.0-0 libsdl2-image-2.0-0)
readonly APT_PI=(python3-picamera2 python3-libcamera python3-lgpio)
# chromium: the city console's browser tests (headless, driven by Playwright; no browser download)
# postgresql: the city's tests start throwaway clusters from it (tests/conftest.py)
readonly APT_DEV=(python3-venv libzbar0 fonts-dejavu-core chromium postgresql)
# pip must not replace Debian's numpy under picamera2 (its C parts are built against 1.x)
readonly PIP_CONSTRAINTS="numpy<2"

MODE=install
PURGE=0
ROOT=""
FORCE=0
CHANGES=0

log() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
usage_error() {
    printf '%s: error: %s (see --help)\n' "$PROG" "$*" >&2
    exit 2
}
# Something on disk changed: count it so a second run can say "nothing to do".
changed() {
    CHANGES=$((CHANGES + 1))
    log "$*"
}
# A step --root does not perform (it needs the target system running): say what it would do.
would() { log "would (not under --root): $*"; }

usage() {
    cat <<EOF
usage: $PROG [--dev | --uninstall [--purge]] [--root DIR] [--force]

  (no option)   install or upgrade the kiosk on this machine (run as root)
  --dev         create .venv in this checkout with the project installed editable, for
                development and 'kiosk demo'; installs missing apt packages only if it can
  --uninstall   stop and remove the units, $VENV and the '$SERVICE_USER' user;
                keep $ETC and $STATE
  --purge       with --uninstall: delete $ETC and $STATE as well (the journal!)
  --root DIR    install the files under DIR instead of /: no apt, no user, no venv, no
                systemctl start (only 'enable' links); prints what it skipped
  --force       skip the operating-system check
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dev) MODE=dev ;;
            --uninstall) MODE=uninstall ;;
            --purge) PURGE=1 ;;
            --force) FORCE=1 ;;
            --root)
                [ $# -ge 2 ] || usage_error "--root needs a directory"
                ROOT="$2"
                shift
                ;;
            --root=*) ROOT="${1#--root=}" ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) usage_error "unknown option: $1" ;;
        esac
        shift
    done
    if [ "$PURGE" = 1 ] && [ "$MODE" != uninstall ]; then
        usage_error "--purge only goes with --uninstall"
    fi
    if [ -n "$ROOT" ]; then
        [ "$MODE" != dev ] || usage_error "--dev and --root do not go together"
        mkdir -p "$ROOT" || die "cannot create $ROOT"
        ROOT="$(cd "$ROOT" && pwd)"
        [ "$ROOT" != / ] || ROOT=""
    fi
}

# ------------------------------------------------------------------ checks

is_pi() {
    local model=/proc/device-tree/model
    [ -r "$model" ] && tr -d '\0' <"$model" | grep -q "Raspberry Pi"
}

os_release_value() { # $1 = key; from $ROOT/etc/os-release
    local file="$ROOT/etc/os-release"
    [ -r "$file" ] || file="$ROOT/usr/lib/os-release"
    [ -r "$file" ] || return 0
    sed -n "s/^$1=//p" "$file" | head -n1 | tr -d "\"'"
}

check_os() {
    [ "$FORCE" = 0 ] || return 0
    local id version arch
    if [ -n "$ROOT" ] && [ ! -r "$ROOT/etc/os-release" ] && [ ! -r "$ROOT/usr/lib/os-release" ]; then
        log "no os-release under $ROOT: not checking the target's operating system"
        return 0
    fi
    id="$(os_release_value ID)"
    version="$(os_release_value VERSION_ID)"
    case "$id:$version" in
        debian:12 | raspbian:12) ;;
        *)
            die "unsupported system '${id:-unknown} ${version:-?}': this needs Raspberry Pi OS bookworm or Debian 12 (--force to try anyway)"
            ;;
    esac
    [ -n "$ROOT" ] && return 0
    arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    case "$arch" in
        arm64 | amd64) ;;
        armhf) warn "32-bit $arch: works, but the 64-bit Raspberry Pi OS is the tested target" ;;
        *) die "unsupported architecture $arch (--force to try anyway)" ;;
    esac
    [ -x "$SYSTEM_PYTHON" ] || die "$SYSTEM_PYTHON not found (apt-get install python3)"
    "$SYSTEM_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$SYSTEM_PYTHON is older than 3.11"
}

check_source() {
    [ -f "$SRC/pyproject.toml" ] || die "run me from the kiosk checkout ($SRC has no pyproject.toml)"
    local unit
    for unit in "${UNITS[@]}"; do
        [ -f "$SRC/systemd/$unit" ] || die "missing $SRC/systemd/$unit"
    done
    [ -f "$SRC/config.example.toml" ] || die "missing $SRC/config.example.toml"
}

need_root() {
    [ -n "$ROOT" ] && return 0
    [ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*  (or --dev for a development checkout, --root DIR to stage files)"
}

systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# ------------------------------------------------------------------ small idempotent steps

ensure_dir() { # path mode [owner:group]
    local path="$ROOT$1" mode="$2" owner="${3:-}"
    if [ ! -d "$path" ]; then
        install -d -m "$mode" "$path"
        changed "created $1"
    fi
    ensure_mode "$1" "$mode"
    [ -z "$owner" ] || ensure_owner "$1" "$owner"
}

ensure_mode() { # path mode
    local path="$ROOT$1" mode="$2"
    if [ "$(stat -c %a "$path")" != "${mode#0}" ]; then
        chmod "$mode" "$path"
        changed "mode $mode on $1"
    fi
}

ensure_owner() { # path owner:group
    local path="$ROOT$1" owner="$2"
    if [ -n "$ROOT" ]; then
        would "chown $owner $1"
        return 0
    fi
    if [ "$(stat -c %U:%G "$path")" != "$owner" ]; then
        chown "$owner" "$path"
        changed "owner $owner on $1"
    fi
}

# A file that is ours (units, docs): replaced when the checkout has a different one.
ensure_copy() { # source path mode
    local src="$1" dst="$ROOT$2" mode="$3"
    if ! cmp -s "$src" "$dst"; then
        install -D -m "$mode" "$src" "$dst"
        changed "installed $2"
    fi
    ensure_mode "$2" "$mode"
}

# ------------------------------------------------------------------ packages

missing_packages() { # package... -> those not installed, one per line
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [ "$status" = installed ] || printf '%s\n' "$pkg"
    done
}

install_packages() {
    local wanted=("${APT_COMMON[@]}") missing
    if [ -n "$ROOT" ]; then
        would "apt-get install ${wanted[*]} (and on a Pi: ${APT_PI[*]})"
        return 0
    fi
    if is_pi; then
        wanted+=("${APT_PI[@]}")
    fi
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    if [ "${#missing[@]}" = 0 ]; then
        return 0
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    # no recommends: python3-picamera2 would otherwise pull in a desktop's worth of Qt
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    changed "installed packages: ${missing[*]}"
}

# ------------------------------------------------------------------ user

ensure_user() {
    local group
    if [ -n "$ROOT" ]; then
        would "groupadd --system for those of ${SERVICE_GROUPS[*]} that do not exist; useradd --system $SERVICE_USER (home $STATE) in them"
        return 0
    fi
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        useradd --system --user-group --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "QR gate kiosk" "$SERVICE_USER"
        changed "created system user $SERVICE_USER"
    fi
    for group in "${SERVICE_GROUPS[@]}"; do
        # kiosk.service names them all in SupplementaryGroups=, and systemd refuses to start a
        # unit naming a group that does not exist (216/GROUP): a lab PC has no 'gpio' group
        if ! getent group "$group" >/dev/null; then
            groupadd --system "$group"
            changed "created group $group"
        fi
        if ! id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group"; then
            usermod -a -G "$group" "$SERVICE_USER"
            changed "added $SERVICE_USER to group $group"
        fi
    done
}

# ------------------------------------------------------------------ venv

source_digest() { # a digest of what pip would install, to skip pip when nothing changed
    (
        cd "$SRC"
        find pyproject.toml kiosk drivers sync -type f \
            ! -name '*.pyc' ! -path '*/__pycache__/*' 2>/dev/null | LC_ALL=C sort |
            xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1
    )
}

ensure_venv() {
    local stamp="$VENV/.kiosk-source" digest constraints
    if [ -n "$ROOT" ]; then
        would "$SYSTEM_PYTHON -m venv --system-site-packages $VENV && $VENV/bin/pip install $SRC"
        return 0
    fi
    if [ -x "$VENV/bin/python" ] && ! grep -q '^include-system-site-packages = true' "$VENV/pyvenv.cfg"; then
        warn "$VENV cannot see the system packages (picamera2): recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
        changed "created $VENV"
    fi
    digest="$(source_digest)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && [ -x "$VENV/bin/kiosk" ]; then
        return 0
    fi
    constraints="$(mktemp)"
    printf '%s\n' "$PIP_CONSTRAINTS" >"$constraints"
    log "installing the kiosk into $VENV (pip)"
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        --constraint "$constraints" "$SRC"; then
        rm -f "$constraints"
        die "pip could not install the kiosk into $VENV (see the messages above)"
    fi
    rm -f "$constraints"
    printf '%s\n' "$digest" >"$stamp"
    changed "installed the kiosk into $VENV"
    VENV_CHANGED=1
}
VENV_CHANGED=0

# ------------------------------------------------------------------ config, token, state

ensure_config() {
    local conf="$ETC/config.toml" token="$ETC/token"
    ensure_dir "$ETC" 0750 "root:$SERVICE_USER"
    if [ ! -e "$ROOT$conf" ]; then
        install -m 0640 "$SRC/config.example.toml" "$ROOT$conf"
        changed "created $conf from config.example.toml: edit it, then 'sudo systemctl reload kiosk'"
    fi
    # never the content of an existing config; only who may read it
    ensure_mode "$conf" 0640
    ensure_owner "$conf" "root:$SERVICE_USER"
    # the city token: the service user's alone (the sync client refuses to trust a token file
    # others can read); 'sudo nano /etc/kiosk/token' keeps its owner and mode
    if [ ! -e "$ROOT$token" ]; then
        install -m 0600 /dev/null "$ROOT$token"
        changed "created an empty $token: put the kiosk's token from the city in it"
    fi
    ensure_mode "$token" 0600
    ensure_owner "$token" "$SERVICE_USER:$SERVICE_USER"
}

ensure_state() {
    ensure_dir "$STATE" 0750 "$SERVICE_USER:$SERVICE_USER"
    if [ -z "$ROOT" ] && [ -n "$(find "$STATE" ! -user "$SERVICE_USER" -print -quit)" ]; then
        # files left by an earlier install whose user had another uid
        chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
        changed "gave $STATE back to $SERVICE_USER"
    fi
}

# ------------------------------------------------------------------ the admin's command

# /usr/local/bin/kiosk: as root it runs the venv's kiosk as the service user, so that what
# `sudo kiosk selftest` or `sudo kiosk status` creates in the state folder stays the service's.
install_wrapper() {
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp" <<EOF_WRAPPER
#!/bin/sh
# Installed by install.sh: the kiosk command for admins (docs/ADMIN.md).
# As root it runs as the service user '$SERVICE_USER', with the service's groups and files.
if [ "\$(id -u)" = 0 ]; then
    exec runuser -u $SERVICE_USER -- $VENV/bin/kiosk "\$@"
fi
exec $VENV/bin/kiosk "\$@"
EOF_WRAPPER
    ensure_copy "$tmp" "$WRAPPER" 0755
    rm -f "$tmp"
}

# ------------------------------------------------------------------ units

install_units() {
    local unit units_changed=0 before
    ensure_dir "$SHARE" 0755
    ensure_copy "$SRC/config.example.toml" "$SHARE/config.example.toml" 0644
    if [ -f "$SRC/docs/ADMIN.md" ]; then
        ensure_copy "$SRC/docs/ADMIN.md" "$SHARE/ADMIN.md" 0644
    fi
    before=$CHANGES
    for unit in "${UNITS[@]}"; do
        ensure_copy "$SRC/systemd/$unit" "$UNIT_DIR/$unit" 0644
    done
    [ "$CHANGES" = "$before" ] || units_changed=1

    if [ -n "$ROOT" ]; then
        enable_offline
        would "systemctl daemon-reload && systemctl enable --now ${UNITS[*]}"
        return 0
    fi
    if ! systemd_running; then
        # a chroot (an image build) or a container: links now, the units start at boot
        enable_offline
        log "systemd is not running here: the units will start at the next boot"
        return 0
    fi
    if [ "$units_changed" = 1 ]; then
        systemctl daemon-reload
    fi
    enable_offline
    if [ "$units_changed" = 1 ] || [ "$VENV_CHANGED" = 1 ]; then
        # an upgrade: restart what runs (a visitor at the gate right now waits a few seconds)
        systemctl try-restart "${UNITS[@]}"
    fi
    local inactive=()
    for unit in "${UNITS[@]}"; do
        systemctl is-active --quiet "$unit" || inactive+=("$unit")
    done
    if [ "${#inactive[@]}" -gt 0 ]; then
        systemctl start "${inactive[@]}" || warn "could not start ${inactive[*]}: see 'journalctl -u kiosk -b'"
        changed "started ${inactive[*]}"
    fi
}

enable_offline() {
    local unit root_opt=()
    [ -z "$ROOT" ] || root_opt=(--root="$ROOT")
    for unit in "${UNITS[@]}"; do
        if [ "$(systemctl "${root_opt[@]}" is-enabled "$unit" 2>/dev/null || true)" != enabled ]; then
            systemctl "${root_opt[@]}" --quiet enable "$unit"
            changed "enabled $unit"
        fi
    done
}

# ------------------------------------------------------------------ install / uninstall

do_install() {
    need_root "$@"
    check_os
    check_source
    install_packages
    ensure_user
    ensure_state
    ensure_config
    ensure_dir "$PREFIX" 0755
    ensure_venv
    install_wrapper
    install_units
    if [ -z "$ROOT" ] && [ -x "$VENV/bin/kiosk" ] && ! "$VENV/bin/kiosk" check-config "$ETC/config.toml" >/dev/null; then
        warn "$ETC/config.toml has problems: run '$VENV/bin/kiosk check-config $ETC/config.toml'"
    fi
    if [ "$CHANGES" = 0 ]; then
        log "nothing to do: everything is installed and up to date"
    else
        log "done ($CHANGES changes). Next: edit $ETC/config.toml, then 'sudo kiosk selftest'"
    fi
}

do_uninstall() {
    need_root "$@"
    local unit root_opt=()
    [ -z "$ROOT" ] || root_opt=(--root="$ROOT")
    for unit in "${UNITS[@]}"; do
        if systemd_running && systemctl is-active --quiet "$unit"; then
            systemctl stop "$unit"
            changed "stopped $unit"
        fi
        if [ -e "$ROOT$UNIT_DIR/$unit" ]; then
            systemctl "${root_opt[@]}" --quiet disable "$unit" 2>/dev/null || true
            rm -f "$ROOT$UNIT_DIR/$unit"
            changed "removed $UNIT_DIR/$unit"
        fi
    done
    if systemd_running; then
        systemctl daemon-reload
    fi
    if [ -e "$ROOT$WRAPPER" ]; then
        rm -f "$ROOT$WRAPPER"
        changed "removed $WRAPPER"
    fi
    if [ -e "$ROOT$PREFIX" ]; then
        rm -rf -- "${ROOT}${PREFIX:?}"
        changed "removed $PREFIX"
    fi
    if [ -n "$ROOT" ]; then
        would "userdel $SERVICE_USER"
    elif getent passwd "$SERVICE_USER" >/dev/null; then
        userdel "$SERVICE_USER"
        changed "removed user $SERVICE_USER"
    fi
    if [ "$PURGE" = 1 ]; then
        local dir
        for dir in "$ETC" "$STATE"; do
            if [ -e "$ROOT$dir" ]; then
                rm -rf -- "${ROOT}${dir:?}"
                changed "purged $dir"
            fi
        done
    else
        log "kept $ETC (config, token) and $STATE (the journal); --purge deletes them"
    fi
    [ "$CHANGES" != 0 ] || log "nothing to remove"
}

# ------------------------------------------------------------------ --dev

dev_digest() { sha256sum "$SRC/pyproject.toml" | cut -d' ' -f1; }

do_dev() {
    local venv="$SRC/.venv" stamp="$SRC/.venv/.kiosk-dev" missing=() sudo=() python=python3
    [ -f "$SRC/pyproject.toml" ] || die "run me from the kiosk checkout"
    if command -v dpkg-query >/dev/null; then
        mapfile -t missing < <(missing_packages "${APT_DEV[@]}")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            sudo=(env)
        elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        fi
        if [ "${#sudo[@]}" -gt 0 ]; then
            log "installing ${missing[*]}"
            "${sudo[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -q
            "${sudo[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
        else
            warn "missing packages ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (continuing)"
        fi
    fi
    if [ ! -x "$venv/bin/python" ]; then
        local venv_opts=()
        # on a Pi, the development venv also sees the system picamera2
        if is_pi; then
            venv_opts=(--system-site-packages)
            python=$SYSTEM_PYTHON
        fi
        "$python" -m venv "${venv_opts[@]}" "$venv" ||
            die "could not create $venv (on Debian: sudo apt-get install python3-venv)"
        log "created $venv"
    fi
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(dev_digest)" ] &&
        "$venv/bin/python" -c 'import kiosk, pytest' 2>/dev/null; then
        log "$venv is up to date"
    else
        log "installing the kiosk (editable) and its development tools into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -e "${SRC}[dev]" ||
            die "pip could not install the kiosk into $venv (see the messages above)"
        dev_digest >"$stamp"
    fi
    log "ready: .venv/bin/kiosk demo   |   .venv/bin/pytest"
}

main() {
    parse_args "$@"
    case "$MODE" in
        install) do_install "$@" ;;
        uninstall) do_uninstall "$@" ;;
        dev) do_dev ;;
    esac
}

main "$@"
