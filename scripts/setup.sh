#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: the system packages it
# uses, then a virtualenv in .venv with the pinned Python dependencies. Idempotent
# and quick when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

# libmagic1: file types from bytes. tesseract-ocr*: OCR language data (English and
# orientation detection). redis-server: the tests' own private broker. chromium and
# chromium-driver: the browser the web front end's end-to-end tests drive. wrk: the upload
# benchmark's load generator.
SYSTEM_PACKAGES=(libmagic1 tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd redis-server wrk
                 chromium chromium-driver)

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing Python dependencies"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  touch .venv/.installed
fi
# Pass 1's vocabularies, built once into the environment (quick when already built)
.venv/bin/python -m app.pipeline.ai.vocabulary
