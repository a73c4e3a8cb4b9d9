#!/usr/bin/env bash
# Fuzzes the operators' API of a throwaway daemon with schemathesis (PyPI: `pip install
# schemathesis`; on PATH, or named by SCHEMATHESIS), from the /openapi.json it serves. Fails on
# any 5xx, any answer its document does not declare, or an error in the daemon's log.
# Usage: test/api/schemathesis.sh [max examples per operation, default 50]
set -euo pipefail
exec node "$(dirname "$0")/schemathesis.ts" "${1:-50}"
