#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when missing, for tests/browser.rs (which
# starts chromedriver itself on a free port; under CI=true a missing chromedriver fails it).
# Usage: bash scripts/install-chromium.sh
set -euo pipefail

if command -v chromedriver >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then
    echo "chromium and chromedriver are installed: $(chromedriver --version)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "installed: $(chromedriver --version)"
