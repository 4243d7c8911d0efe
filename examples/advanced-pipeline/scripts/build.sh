#!/bin/sh
# Build the source archive into dist/ and print its checksum.
set -eu
mkdir -p dist
tar -cf - wordcount | gzip -n > dist/wordcount.tar.gz
sha256sum dist/wordcount.tar.gz | tee dist/SHA256SUMS
