# Sourced helper: apt_install PKG... — quiet, non-interactive, one `apt-get update` per run.
# Uses sudo when not root; fails with a readable message when neither works.

apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "error: need root to run: apt-get install $*" >&2
            return 1
        fi
    fi
    if [[ -z "${_SOP_APT_UPDATED:-}" ]]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _SOP_APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
