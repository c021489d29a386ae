#!/usr/bin/env bash
# Install Debian's chromium (driven by playwright in tests/test_browser.py) and a
# CJK font (the UI defaults to Chinese; without one, screenshots show boxes).
set -euo pipefail
source "$(dirname "$0")/apt.sh"

wanted=()
[[ -x /usr/bin/chromium ]] || wanted+=(chromium fonts-liberation)
if ! command -v fc-list >/dev/null || [[ -z "$(fc-list :lang=zh 2>/dev/null)" ]]; then
    wanted+=(fonts-wqy-microhei)
fi
if (( ${#wanted[@]} )); then
    echo "==> installing ${wanted[*]} with apt-get"
    apt_install "${wanted[@]}"
fi
