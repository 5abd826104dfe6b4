#!/usr/bin/env bash
# Registers the search attributes the rollout and approval workflows write, on a Temporal cluster
# you run yourself (the embedded dev server registers them at start). Idempotent.
# Usage: TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default temporal/register-search-attributes.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
address=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
namespace=${TEMPORAL_NAMESPACE:-default}
# search-attributes.json is flat: {"Name": "Type", ...}
sed -n 's/^ *"\([A-Za-z]*\)": *"\([A-Za-z]*\)".*/\1 \2/p' "$here/search-attributes.json" |
while read -r name type; do
  if temporal operator search-attribute list --address "$address" --namespace "$namespace" | grep -qw "$name"; then
    echo "search attribute $name already registered"
  else
    temporal operator search-attribute create --address "$address" --namespace "$namespace" --name "$name" --type "$type"
  fi
done
