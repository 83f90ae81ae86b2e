#!/usr/bin/env bash
# Serving files: a version's model file and serving index are built once per server (by the
# deploying transaction, or by one of several concurrent first callers while the others wait),
# a builder killed with kill -9 leaves no torn file, the next caller builds them, one of an earlier
# generation is replaced, the files of a
# replaced version are retired at commit and swept once old, and those of dropped versions go.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
D="$CLUSTER_DIR/data/pg_marketing_models"
q "CREATE EXTENSION pg_marketing" > /dev/null
# 100k items: the serving index takes long enough to build that concurrent callers overlap.
q "CREATE TABLE big AS SELECT (g % 5000) AS user_id, (g::bigint * 7919 % 100000) AS item_id FROM generate_series(1, 300000) g" > /dev/null
train() { q "SELECT model_name FROM mkt.train_recommender('big', 'big', algorithm => 'als', params => '{\"factors\": 32, \"iterations\": 1}')" > /dev/null; }
deployed() { q "SELECT model_id FROM mkt.deployments WHERE model_name = 'big'"; }
builds() { grep -c "built the serving files of model id $1 in" "$CLUSTER_LOG"; }
files_of() { ls "$D" 2> /dev/null | grep "^[0-9]*-$1-" | grep -c '\.model$\|\.serving$' ; }
retired_of() { ls "$D" 2> /dev/null | grep "^[0-9]*-$1-" | grep -c '\.retired$' ; }
answers() { # the top-10 of 40 users, from one new backend
  psql -X -qAt -c "SELECT string_agg(r, ';' ORDER BY u) FROM generate_series(1, 40) u,
    LATERAL (SELECT string_agg(item_id::text, ',' ORDER BY rank) r FROM mkt.recommend('big', u, 10)) x"
}
concurrent() { # 8 new backends at once; prints how many distinct answers they gave, then the answer
  local out="$CLUSTER_DIR/conc"; rm -f "$out".*
  for i in $(seq 8); do answers > "$out.$i" & done; wait
  cat "$out".* | sort -u | wc -l
}

train
id1=$(deployed)
check "the deploying transaction built the files of version 1, once; both files are there" "1|2" \
  "$(builds "$id1")|$(ls "$D" | grep "^[0-9]*-$id1-" | grep -c '\.model$\|\.serving$')"
ref1=$(PGOPTIONS="-c mkt.shared_models=off" answers)
check "8 new backends after the deploy: the same answers as a private copy, nothing built again" "1|$ref1|1" \
  "$(concurrent)|$(cat "$CLUSTER_DIR/conc.1")|$(builds "$id1")"
mem=$(q "SELECT count(*) FROM mkt.recommend('big', 1, 10); SELECT bytes || '|' || shared_bytes FROM mkt.cache_stats()" | tail -1)
check "a backend serving from the files holds the 100k-item index and factors in shared pages, under 200 kB privately ($mem)" "true|true" \
  "$(awk -F'|' '{print ($1 < 200000 ? "true" : "false") "|" ($2 > 10000000 ? "true" : "false")}' <<< "$mem")"

# As on a standby, or after the folder was emptied: the first callers find no files.
rm -f "$D"/*
check "8 concurrent first callers with no files: one builds, the others wait and map; same answers" "1|$ref1|2|0" \
  "$(concurrent)|$(cat "$CLUSTER_DIR/conc.1")|$(builds "$id1")|$(ls "$D" | grep -c '\.tmp$')"

# As an upgrade of the extension leaves it: the serving file an earlier build wrote, under that
# generation's name. It is not mapped; the next caller builds this generation's and removes it.
f=$(ls "$D" | grep "^[0-9]*-$id1-.*\.v2\.serving$")
mv "$D/$f" "$D/${f%.v2.serving}.serving"
before=$(builds "$id1")
check "a serving file of an earlier generation is replaced by the next caller's build; same answers" "$ref1|$((before + 1))|0|1" \
  "$(answers)|$(builds "$id1")|$(ls "$D" | grep "^[0-9]*-$id1-" | grep -c -- '-[0-9]*\.serving$')|$(ls "$D" | grep "^[0-9]*-$id1-" | grep -c '\.v2\.serving$')"

# A retrain and deploy: the new version's files are ready at commit, the old version's go.
q "INSERT INTO big SELECT user_id, (item_id + 1) % 100000 FROM big WHERE user_id % 2 = 0" > /dev/null
train
id2=$(deployed)
check "retrain + deploy built version 2's files before commit and retired version 1's" "1|2|0|2" \
  "$(builds "$id2")|$(files_of "$id2")|$(files_of "$id1")|$(retired_of "$id1")"
ref2=$(PGOPTIONS="-c mkt.shared_models=off" answers)
check "8 new backends serve version 2 from its files without building" "1|$ref2|1" \
  "$(concurrent)|$(cat "$CLUSTER_DIR/conc.1")|$(builds "$id2")"
q "SELECT mkt.rollback('big')" > /dev/null
check "a rollback puts version 1's retired files back without building and retires version 2's" "3|2|0|2|$ref1" \
  "$(builds "$id1")|$(files_of "$id1")|$(files_of "$id2")|$(retired_of "$id2")|$(answers)"

# kill -9 of a backend in the middle of a build: it is caught while a temporary file exists.
killed=""
for attempt in 1 2 3 4 5; do
  rm -f "$D"/*
  python3 - "$D" > "$CLUSTER_DIR/killed" <<'PY' &
import os, signal, sys, time
d, end = sys.argv[1], time.time() + 30
while time.time() < end:
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        names = []
    tmp = [n for n in names if n.endswith(".tmp")]
    if tmp:
        pid = int(tmp[0].split(".")[-2])
        os.kill(pid, signal.SIGKILL)
        print(tmp[0])
        break
PY
  watcher=$!
  sleep 0.2
  answers > /dev/null 2>&1
  wait $watcher
  if [ -s "$CLUSTER_DIR/killed" ]; then killed=$(cat "$CLUSTER_DIR/killed"); break; fi
done
server_back
[ -n "$killed" ] && ok "a builder was killed with kill -9 while writing $killed" || fail "no build was caught in 5 attempts"
before=$(builds "$id1")
check "after the crash the next caller builds the files and answers as before; no temporary file is left" "$ref1|$((before + 1))|0|2" \
  "$(answers)|$(builds "$id1")|$(ls "$D" | grep -c '\.tmp$')|$(ls "$D" | grep "^[0-9]*-$id1-" | grep -c '\.model$\|\.serving$')"

# Dropping removes every file of the model; retrains do not make the folder grow.
q "SELECT mkt.drop_model('big')" > /dev/null
check "after mkt.drop_model no file of the model is left" "0" "$(ls "$D" | wc -l)"
q "CREATE TABLE small AS SELECT user_id, item_id FROM big WHERE user_id < 500" > /dev/null
retrain_small() {
  q "SELECT model_name FROM mkt.train_recommender('small', 'small', algorithm => 'als', params => '{\"factors\": 8, \"iterations\": 1}')" > /dev/null
  q "SELECT count(*) FROM mkt.recommend('small', 1, 5)" > /dev/null
}
for i in 1 2 3 4 5; do retrain_small; done
check "after 5 retrains and deploys: 5 versions, one version's files in use, the last replaced ones retired" "5|1|1|8" \
  "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'small'")|$(ls "$D" | grep -c '\.model$')|$(ls "$D" | grep -c '\.serving$')|$(ls "$D" | grep -c '\.retired$')"
touch -d '2 minutes ago' "$D"/*.retired
retrain_small
check "the next deploy sweeps retired files older than a minute and retires only the version it replaced" "6|1|2" \
  "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'small'")|$(ls "$D" | grep -c '\.model$')|$(ls "$D" | grep -c '\.retired$')"
finish serving_files
