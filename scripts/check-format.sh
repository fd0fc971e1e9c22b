#!/bin/sh
# Fail when a C file differs from what clang-format makes of it (the committed .clang-format).
set -eu

cd "$(dirname "$0")/.."
status=0
for file in $(git ls-files '*.c' '*.h'); do
    if ! clang-format --style=file "$file" | cmp -s - "$file"; then
        echo "format: $file differs from clang-format; run: clang-format -i $file"
        status=1
    fi
done
if [ "$status" = 0 ]; then
    echo "format: every C file matches .clang-format"
fi
exit "$status"
