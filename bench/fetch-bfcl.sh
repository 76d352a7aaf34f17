#!/usr/bin/env bash
# Fetches the bfcl-eval wheel (Apache-2.0) from the package index and unpacks its data into .data/bfcl (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip download --no-deps bfcl-eval==2026.3.23 -d "$tmp" >/dev/null
mkdir -p .data/bfcl
python3 -c "import zipfile,glob,sys; z=zipfile.ZipFile(glob.glob(sys.argv[1]+'/*.whl')[0]); [z.extract(n,'.data/bfcl') for n in z.namelist() if n.startswith('bfcl_eval/data/')]" "$tmp"
echo "bfcl-eval data in .data/bfcl/bfcl_eval/data"
