#!/usr/bin/env bash
# Optional: a Python 3.10 virtualenv with the real nnabla 1.39 (.venv-nnabla), used by
# the tests that check nnabla itself loads what nnb writes. Never fails the build:
# without it those tests skip and say why.
set -u
dest=${1:-.venv-nnabla}
[ -x "$dest/bin/python" ] && "$dest/bin/python" -c 'import nnabla' >/dev/null 2>&1 && exit 0
py=""
for c in "$HOME"/.pyenv/versions/3.10*/bin/python3.10 python3.10; do
  # pyenv shims exist for versions that are not selected: run the candidate to be sure
  if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then py=$c; break; fi
done
if [ -z "$py" ]; then echo "setup: no Python 3.10 found; skipping the nnabla oracle" >&2; exit 0; fi
echo "setup: $dest with nnabla==1.39.0 ($py)"
rm -rf "$dest"
if ! { "$py" -m venv "$dest" && "$dest/bin/pip" install -q nnabla==1.39.0 >/dev/null 2>&1; }; then
  echo "setup: could not install nnabla 1.39.0; the nnabla oracle tests will skip" >&2
  rm -rf "$dest"
fi
exit 0
