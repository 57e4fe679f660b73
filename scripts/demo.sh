#!/usr/bin/env bash
# Starts `aisle serve` on 127.0.0.1:8080 over ./data, loads the shipped demo data set
# (demo/, a cut of the UCI Online Retail data) and leaves the server in the foreground.
# Loading is idempotent: items and customers are upserts, events carry event_ids.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/release/aisle
ADDR=${AISLE_LISTEN:-127.0.0.1:8080}
DATA=${AISLE_DATA:-./data}
URL="http://$ADDR"

"$BIN" serve --listen "$ADDR" --data "$DATA" --retrain-models knn,ease,ials &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 1 300); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { echo "aisle failed to start" >&2; exit 1; }
  sleep 0.1
done

echo "loading the demo catalog, customers and events..."
curl -fsS -X POST "$URL/v1/items" -H 'Content-Type: application/json' --data-binary @demo/items.json >/dev/null
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -E 's/.*"user_id": *"([^"]+)".*/\1/')
  curl -fsS -X PUT "$URL/v1/users/$id" -H 'Content-Type: application/json' --data-binary "$line" >/dev/null
done < demo/users.ndjson
curl -fsS -X POST "$URL/v1/events" -H 'Content-Type: application/x-ndjson' --data-binary @demo/events.ndjson
echo

# Train the models on what was just loaded (in the background of the server: `aisle train`
# as a child process), and wait for them to be swapped in.
echo "training item-kNN, EASE and iALS on the log..."
curl -fsS -X POST "$URL/v1/admin/models/retrain" >/dev/null || true
for _ in $(seq 1 600); do
  m=$(curl -fs "$URL/v1/admin/models" || true)
  # done: the run finished and its models were loaded (generation 1 is the start's)
  case "$m" in *'"running":false,"runs":1'*) case "$m" in '{"generation":1,'*) ;; *) break ;; esac ;; esac
  sleep 0.2
done
printf '%s\n' "$m" | grep -o '"model":"[a-z]*"' | tr '\n' ' '
echo "loaded"

cat <<EOT

Aisle is running at $URL (pid $pid, data in $DATA). Try:

  curl -s '$URL/v1/users/c17850/recommendations?n=5'
  curl -s -X POST $URL/v1/events -H 'Content-Type: application/json' \\
       -d '{"type":"view","user_id":"c17850","item_id":"22423"}'
  curl -s '$URL/v1/items/22423/similar?n=5'
  curl -s '$URL/v1/users/c17850/recommendations?n=5&fields=title,price'

(GET $URL/v1/users/c17850 shows the customer's live profile; $URL/v1/stats the counters;
$URL/v1/admin/models the trained models, retrained with POST $URL/v1/admin/models/retrain.)

Press Ctrl-C to stop.
EOT
wait $pid
