#!/bin/sh
# Proves a non-editable install works: build the wheel, install it into a fresh venv outside
# the source tree, and run the parser from there (the grammar and the docs ship inside the wheel).
# The install is the core alone (`pip install kmspolicy`, the policy toolkit): it measures what
# README states (under 10 distributions, under 15 MB of files) and checks that a command that
# needs the server extra says what to install instead of failing with a traceback.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/tools"
python3 -m venv --without-pip "$work/venv"
py="$work/venv/bin/python"
# pip from another venv: the measured site-packages holds kmspolicy and its dependencies only
"$work/tools/bin/pip" --python "$py" install -q --no-compile "$top"
cd "$work"
"$py" - <<'PY'
import importlib.metadata, importlib.resources, kmspolicy, pathlib, sys
root = pathlib.Path(kmspolicy.__file__).parent
assert "site-packages" in str(root), root
grammar = importlib.resources.files("kmspolicy") / "grammar" / "kmspolicy.lark"
assert grammar.is_file(), "grammar missing from the wheel"
docs = importlib.resources.files("kmspolicy") / "docs" / "lint.md"
assert docs.is_file(), "docs missing from the wheel"
console = importlib.resources.files("kmspolicy") / "server" / "console"
assert (console / "templates" / "base.html").is_file(), "console templates missing from the wheel"
assert (console / "static" / "console.js").is_file(), "console assets missing from the wheel"
assert kmspolicy.__version__, "no version"
site = root.parent
size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
names = sorted(d.metadata["Name"] for d in importlib.metadata.distributions(path=[str(site)]))
print(f"wheel ok: {root}")
print(f"core install: {len(names)} distributions, {size / 1e6:.1f} MB: {' '.join(names)}")
server = {"cryptography", "botocore", "boto3", "uvicorn", "psycopg", "rich"} & {n.lower() for n in names}
assert not server, f"the core install pulls {sorted(server)}"
assert len(names) < 10 and size < 15e6, "the core install outgrew what README states"
PY
if [ -f "$top/fixtures/default-key-policy.kmsp" ]; then
  "$work/venv/bin/kmspolicy" fmt --check "$top/fixtures/default-key-policy.kmsp"
fi
"$work/venv/bin/kmspolicy" lint --explain PUBLIC_ACCESS >/dev/null
# a server command without the server extra: exit 2 and the pip command, no traceback
status=0
"$work/venv/bin/kmspolicy" serve --data-dir "$work/data" 2>"$work/err" || status=$?
grep -q "pip install 'kmspolicy\[server\]'" "$work/err" && ! grep -q Traceback "$work/err" \
  && [ "$status" -eq 2 ] || { cat "$work/err"; echo "serve without [server]: exit $status"; exit 1; }
echo "serve without the server extra: $(cat "$work/err")"
