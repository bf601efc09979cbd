#!/usr/bin/env bash
# Patch-queue workflow (see README, "Development"); LINE is a folder of lines/ (default: lines.toml's):
#   ./dev.sh workspace [--line LINE] [--force]   materialize work/LINE: pristine upstream + the series
#   ./dev.sh export [--line LINE]                write work/LINE's commits back to lines/LINE/
#   ./dev.sh port --from A --to B COMMIT         cherry-pick COMMIT of work/A onto work/B (made if absent)
#                                                with an "Origin: lines/A, <subject>" trailer; export B.
#                                                On a conflict: resolve in work/B, git add,
#                                                git cherry-pick --continue --no-edit, ./dev.sh export --line B
#   ./dev.sh added-files                         rewrite lines/ADDED-FILES.md: each added file across lines
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" "$@"
