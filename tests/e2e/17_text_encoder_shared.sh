#!/usr/bin/env bash
# The sentence encoder is mapped, not copied: every backend that calls mkt.embed reads the weights
# in place from the one model.safetensors file, so the kernel keeps one copy of them in the page
# cache for the whole server. Checked from /proc: a backend's private (anonymous) memory grows by
# far less than the 87 MB of weights, the weights are a file mapping, and while one backend holds
# the pages a second backend's mapping of them counts as shared.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
q "CREATE EXTENSION pg_marketing" > /dev/null

TEXTS="SELECT count(*) FROM mkt.embed(ARRAY(SELECT 'a quiet ' || g || ' word lamp for the reading room' FROM generate_series(1, 64) g))"
# kB of one backend's own memory (RssAnon of /proc/self/status).
ANON="SELECT (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]"
# The backend's mappings of model.safetensors, summed: Rss, Shared_Clean, Private_Clean, Anonymous (kB).
MAPPED="SELECT coalesce(sum((regexp_match(m, 'Rss:\s+(\d+)'))[1]::int), 0) || '|' ||
               coalesce(sum((regexp_match(m, 'Shared_Clean:\s+(\d+)'))[1]::int), 0) || '|' ||
               coalesce(sum((regexp_match(m, 'Private_Clean:\s+(\d+)'))[1]::int), 0) || '|' ||
               coalesce(sum((regexp_match(m, 'Anonymous:\s+(\d+)'))[1]::int), 0)
        FROM regexp_split_to_table(pg_read_file('/proc/self/smaps'), E'\n(?=[0-9a-f]+-[0-9a-f]+ )') m
        WHERE split_part(m, E'\n', 1) LIKE '%/model.safetensors'"

out=$(psql -X -qAt -v ON_ERROR_STOP=1 -c "$ANON" -c "$TEXTS" -c "$ANON" -c "$MAPPED")
read -r before embedded after mapped <<< "$(echo $out)"
IFS='|' read -r rss shared private anon <<< "$mapped"
grown=$((after - before))
check "one backend embeds 64 texts; its own memory grows by under 40 MB ($grown kB), the weights it read are a file mapping ($rss kB resident, $anon kB anonymous)" \
  "64|true|true|0" "$embedded|$([ "$grown" -lt 40000 ] && echo true || echo false)|$([ "$rss" -gt 20000 ] && echo true || echo false)|$anon"

# A backend that holds the mapping while a second one embeds: the second one's pages are shared.
psql -X -qAt -c "$TEXTS" -c "SELECT pg_sleep(20)" > /dev/null 2>&1 &
holder=$!
poll "1" 100 "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)'" > /dev/null
IFS='|' read -r rss2 shared2 private2 anon2 <<< "$(psql -X -qAt -v ON_ERROR_STOP=1 -c "$TEXTS" -c "$MAPPED" | tail -1)"
check "a second backend, while the first holds the weights: what it reads of them is shared with the first ($shared2 of $rss2 kB shared)" \
  "true|0" "$([ "$shared2" -gt 20000 ] && [ "$shared2" -ge $((rss2 * 9 / 10)) ] && echo true || echo false)|$anon2"
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)'" > /dev/null
wait $holder 2> /dev/null

# The same vectors in both backends: a mapping is read, never written.
a=$(q "SELECT md5(mkt.embed('a quiet lamp')::text)")
b=$(q "SELECT md5(mkt.embed('a quiet lamp')::text)")
check "two backends give the same vector for the same text" "$a" "$b"
finish text_encoder_shared
