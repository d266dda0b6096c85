#!/usr/bin/env bash
# Download public recommender data sets into ./data (never commit them:
# their licences forbid redistribution). Usage: datasets/download.sh NAME...
# NAME: ml-100k ml-1m ml-20m lastfm-360k msd-taste
#
# Checksums: GroupLens publishes MD5 sums next to each zip
# (https://files.grouplens.org/datasets/movielens/<name>.zip.md5); this
# script fetches that file and checks against it. No SHA-256 of the zips
# could be verified from this machine (no network while writing it), so
# none is hard-coded: the script prints the SHA-256 it computed so that you
# can record it. For Last.fm 360K and the MSD taste profile no published
# checksum was available to us: the script prints the SHA-256 and says the
# file is UNVERIFIED.
set -euo pipefail
out="${DATA_DIR:-data}"
mkdir -p "$out"
fetch() { curl -fL --retry 3 -o "$2" "$1"; }
grouplens() {
  local name=$1 url="https://files.grouplens.org/datasets/movielens/$1.zip"
  fetch "$url" "$out/$name.zip"
  fetch "$url.md5" "$out/$name.zip.md5"
  local want; want=$(grep -oE '[0-9a-f]{32}' "$out/$name.zip.md5" | head -1)
  local got; got=$(md5sum "$out/$name.zip" | cut -d' ' -f1)
  if [ "$want" != "$got" ]; then echo "MD5 mismatch for $name: $got != $want" >&2; exit 1; fi
  echo "$name: md5 OK ($got); sha256 $(sha256sum "$out/$name.zip" | cut -d' ' -f1)"
  (cd "$out" && unzip -oq "$name.zip")
}
unverified() {
  fetch "$1" "$out/$2"
  echo "$2: UNVERIFIED (no published checksum); sha256 $(sha256sum "$out/$2" | cut -d' ' -f1)"
}
for name in "$@"; do
  case "$name" in
    ml-100k|ml-1m|ml-20m) grouplens "$name" ;;
    lastfm-360k) unverified http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-360K.tar.gz lastfm-dataset-360K.tar.gz ;;
    msd-taste) unverified http://millionsongdataset.com/sites/default/files/challenge/train_triplets.txt.zip train_triplets.txt.zip ;;
    *) echo "unknown data set $name" >&2; exit 2 ;;
  esac
done
# The copies in ../shared/datasets can be checked with: (cd ../shared/datasets && sha256sum -c SHA256SUMS)
