#!/bin/sh
# Screenshots of each main page of the web console into screenshots/console/ (docs/console.md
# shows them), so a reviewer can look without running a browser: headless Debian chromium driven by Playwright, against a
# server started in-process with the development identity. Usage: scripts/console-screenshots.sh [DIR]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
command -v chromium >/dev/null || { echo "needs Debian's chromium: apt-get install chromium" >&2; exit 2; }
cd "$top"
exec "${PYTHON:-$top/.venv/bin/python}" scripts/console_screenshots.py "${1:-screenshots/console}"
