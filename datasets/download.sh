#!/usr/bin/env bash
# Download public recommender data sets into ./data (override with DATA_DIR)
# and check them. Never commit the data: the licences forbid redistribution.
#
# Usage: datasets/download.sh [--pin] NAME...
#   NAME: ml-100k ml-1m ml-20m ml-latest-small lastfm-360k msd-taste
#   --pin: for an archive with no published SHA-256, record the SHA-256
#          computed now in datasets/SHA256SUMS.local (override the path with
#          SHA256SUMS_LOCAL); later runs then fail if the file changes.
#
# An archive already present in DATA_DIR is not fetched again, only checked.
# Any checksum mismatch is fatal (exit 1) and nothing is extracted.
#
# Where each checksum comes from (none was computed by us: this machine
# could not download the files; every sum below was read from a public
# source and, where two unrelated sources exist, they agree):
#
# SHA-256 of the archives
#   ml-100k.zip          4,924,029 B   50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229
#   ml-1m.zip            5,917,549 B   a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20
#   ml-20m.zip         198,702,078 B   96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3
#   ml-latest-small.zip    978,202 B   696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436
#     Source: tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt
#     (URL, size and SHA-256 of each GroupLens zip; commit 1c076ac3c19c).
#     ml-20m and ml-latest-small are also pinned, with the same values, by
#     the Julia package DataDeps registration of GroupLens data ("MovieLens-20m",
#     "MovieLens-latest-small"), and ml-1m by several independent projects.
#     ml-latest-small is a moving release: the sum is the 9/2018 one (610
#     users, 100,836 ratings), the same as ../shared/datasets/ml-latest-small.
# MD5 of the archives, as published by GroupLens next to each zip
# (https://files.grouplens.org/datasets/movielens/<name>.zip.md5), copied in
# eli-osherovich/papers_with_code datasets/movielens/dl_config.py:
#   ml-100k 0e33842e24a9c977be4e0107933c0723  ml-1m c4d9eecfca2ab87c1945afe126590906
#   ml-20m  cd245b17a1ae2cc31bb14903e1204af3
# Last.fm 360K (Celma 2010; Zenodo record 10.5281/zenodo.6090214): NO SHA-256
#   found in any public source. Checked instead against:
#   - the archive MD5 published by Zenodo, 635e6ed3fc873aa4ba33aba0ebce02b1
#     (569,202,935 B), as quoted by several projects using the record;
#   - the MD5s of the extracted files given in the dataset's own README:
#     usersha1-artmbid-artname-plays.tsv be672526eb7c69495c27ad27803148f1,
#     usersha1-profile.tsv 51159d4edf6a92cb96f87768aa2be678.
# MSD Echo Nest Taste Profile (train_triplets.txt.zip): NO checksum of any
#   kind found in a public source. Checked only against the publisher's
#   statistics (48,373,586 triplet lines) and, after `--pin`, against the
#   SHA-256 you recorded (trust on first use).
# Extracted ml-100k files are also compared with ../shared/datasets/SHA256SUMS
# when that file exists (the copies there were checked across repositories).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="${DATA_DIR:-data}"
local_sums="${SHA256SUMS_LOCAL:-$here/SHA256SUMS.local}"
shared_sums="$here/../../shared/datasets/SHA256SUMS"

usage() { sed -n '5,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }

pin=0
names=()
for a in "$@"; do
  case "$a" in
    --pin) pin=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option $a" >&2; usage >&2; exit 2 ;;
    *) names+=("$a") ;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then usage >&2; exit 2; fi

published_sha256() {
  case "$1" in
    ml-100k.zip) echo 50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229 ;;
    ml-1m.zip) echo a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20 ;;
    ml-20m.zip) echo 96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3 ;;
    ml-latest-small.zip) echo 696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436 ;;
    *) return 1 ;;
  esac
}

published_md5() {
  case "$1" in
    ml-100k.zip) echo 0e33842e24a9c977be4e0107933c0723 ;;
    ml-1m.zip) echo c4d9eecfca2ab87c1945afe126590906 ;;
    ml-20m.zip) echo cd245b17a1ae2cc31bb14903e1204af3 ;;
    lastfm-dataset-360K.tar.gz) echo 635e6ed3fc873aa4ba33aba0ebce02b1 ;;
    lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv) echo be672526eb7c69495c27ad27803148f1 ;;
    lastfm-dataset-360K/usersha1-profile.tsv) echo 51159d4edf6a92cb96f87768aa2be678 ;;
    *) return 1 ;;
  esac
}

fetch() { # name url...: into $out/name unless already there; mirrors in order
  local name=$1 url
  shift
  if [ -e "$out/$name" ]; then
    echo "$name: already in $out, not fetched again"
    return
  fi
  for url in "$@"; do
    if curl -fL --retry 3 -o "$out/$name.part" "$url"; then
      mv "$out/$name.part" "$out/$name"
      return
    fi
    echo "$name: $url failed" >&2
  done
  rm -f "$out/$name.part"
  die "could not download $name"
}

# check_sum TOOL SUM NAME: run `TOOL -c` in $out; fatal on mismatch.
check_sum() {
  if ! (cd "$out" && printf '%s  %s\n' "$2" "$3" | "$1" -c --strict -); then
    die "$1 mismatch for $out/$3 (expected $2). The file is corrupt or not the published one: delete it and download again."
  fi
}

# verify NAME: every known checksum of the archive $out/NAME.
verify() {
  local name=$1 sum pinned have_sha=0
  if sum=$(published_sha256 "$name"); then check_sum sha256sum "$sum" "$name"; have_sha=1; fi
  if sum=$(published_md5 "$name"); then check_sum md5sum "$sum" "$name"; fi
  if [ -f "$local_sums" ] && pinned=$(grep -E "^[0-9a-f]{64}  $name\$" "$local_sums" | tail -1); then
    check_sum sha256sum "${pinned%% *}" "$name"
    echo "$name: matches the SHA-256 pinned in $local_sums"
    have_sha=1
  fi
  if [ $have_sha = 0 ]; then
    sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
    if [ $pin = 1 ]; then
      printf '%s  %s\n' "$sum" "$name" >>"$local_sums"
      echo "$name: no published SHA-256; pinned $sum in $local_sums (trust on first use)"
    else
      echo "$name: NO PUBLISHED SHA-256. Computed $sum. Run again with --pin to record it in $local_sums so that later runs check it." >&2
    fi
  fi
}

count_lines() { # file expected
  local n; n=$(wc -l <"$1")
  [ "$n" -eq "$2" ] || die "$1 has $n lines, the publisher states $2"
  echo "$1: $n lines, as published"
}

grouplens() {
  local name=$1
  fetch "$name.zip" "https://files.grouplens.org/datasets/movielens/$name.zip"
  verify "$name.zip"
  (cd "$out" && unzip -oq "$name.zip")
  if [ -f "$shared_sums" ] && grep -qE "  $name/" "$shared_sums"; then
    # Data files only: READMEs are re-issued with new citations.
    if ! (cd "$out" && grep -E "  $name/[^ ]*\.(data|item|user|genre|info|occupation|csv)\$" "$shared_sums" | sha256sum -c --strict --quiet -); then
      die "extracted $name files differ from ../shared/datasets (see above)"
    fi
    echo "$name: extracted data files match ../shared/datasets/SHA256SUMS"
  fi
}

lastfm_360k() {
  local name=lastfm-dataset-360K.tar.gz f
  # Zenodo, then the original host (both checked against the same MD5).
  fetch "$name" "https://zenodo.org/records/6090214/files/$name" \
    "http://mtg.upf.edu/static/datasets/last.fm/$name"
  verify "$name"
  tar -xzf "$out/$name" -C "$out"
  for f in lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv lastfm-dataset-360K/usersha1-profile.tsv; do
    check_sum md5sum "$(published_md5 "$f")" "$f"
  done
}

msd_taste() {
  local name=train_triplets.txt.zip
  fetch "$name" "http://millionsongdataset.com/sites/default/files/challenge/$name"
  verify "$name"
  (cd "$out" && unzip -oq "$name")
  count_lines "$out/train_triplets.txt" 48373586
}

mkdir -p "$out"
for name in "${names[@]}"; do
  case "$name" in
    ml-100k|ml-1m|ml-20m|ml-latest-small) grouplens "$name" ;;
    lastfm-360k) lastfm_360k ;;
    msd-taste) msd_taste ;;
    *) echo "unknown data set $name" >&2; usage >&2; exit 2 ;;
  esac
done
