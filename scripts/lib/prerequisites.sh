# shellcheck shell=bash
# Shared by scripts/test and scripts/demo: root, and the Debian packages that local machines
# (dm_testing) and the build need. Source it; it defines `say`, `require_root` and
# `install_missing_packages`.

# Packages the harness and the build need on the machine running the tests.
readonly PACKAGES=(
    debootstrap debian-archive-keyring ca-certificates # build the machines' base tree
    systemd-container                                  # systemd-nspawn
    iproute2 iptables                                  # namespaces, bridge, NAT, faults
    openssh-client openssh-server                      # ssh, ssh-keygen; sshd for sshd-only hosts
    util-linux mount bsdutils                          # flock, mount; script (a terminal for tests)
    gcc libc6-dev                                      # the Rust build's C compiler and linker
    git curl                                           # deploys bundle git commits; the demo asks the load balancer
)
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# Re-runs the calling script under sudo when not root.
require_root() {
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null; then
            say "not root: re-running under sudo (the tests create namespaces, mounts and machines)"
            exec sudo --preserve-env=PATH,HOME,CARGO_HOME,RUSTUP_HOME,CARGO_TARGET_DIR,RUST_BACKTRACE "$0" "$@"
        fi
        say "must run as root (the tests create namespaces, mounts and machines), and sudo is not installed"
        exit 1
    fi
}

# Installs what is missing of PACKAGES and of the extra packages given as arguments.
install_missing_packages() {
    if ! command -v dpkg-query >/dev/null; then
        say "this machine has no dpkg: the test machines need a Debian-based host (apt, debootstrap)"
        exit 1
    fi
    local missing=() package
    for package in "${PACKAGES[@]}" "$@"; do
        if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true) != installed ]]; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} > 0)); then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

# Puts cargo on PATH (rustup's default place) or says how to get it.
require_cargo() {
    if ! command -v cargo >/dev/null; then
        if [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"; fi
    fi
    if ! command -v cargo >/dev/null; then
        say "cargo is not installed: install Rust (https://rustup.rs) and run this again"
        exit 1
    fi
}
