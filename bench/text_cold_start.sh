#!/usr/bin/env bash
# Items nobody has rated yet, on MovieLens-100K: 20% of the movies (md5 of the id) are held out
# entirely, every rating of them goes to test, and the models train on the rest with an item
# feature table that lists every movie. Each test user's held-out movies are ranked among all
# held-out movies (mkt.recommend with candidates), NDCG@10 and Recall@10 averaged over those users:
# - popularity: it knows only rated movies, so it ranks none of them (0);
# - random: the held-out movies in a random order per user, what no signal gives;
# - neural with genre features: the 19 genre flags and the release year;
# - neural with text features: item_features.text_columns over "Title (year). Genre, genre",
#   embedded by mkt.embed;
# - neural with both.
# The data comes from the PyPI wheel of recbole at run time, as in bench/quality.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
ml100k_start
GENRES="Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western unknown"
flags=""; cols=""
for g in $GENRES; do
  c="g_$(echo "$g" | tr -c 'A-Za-z\n' '_' | tr 'A-Z' 'a-z')"
  flags="$flags, (' ' || class || ' ' LIKE '% ${g//\'/\'\'} %')::int::float8 AS $c"
  cols="$cols\"$c\", "
done
q "CREATE TABLE ml_items AS
   SELECT item_id, mkt.try_float8(release_year) AS release_year $flags,
          title || coalesce(' (' || release_year || ')', '') || '. ' || replace(class, ' ', ', ') AS description
   FROM ml_items_raw"
q "CREATE TABLE cold_items AS SELECT item_id FROM ml_items WHERE ('x' || substr(md5(item_id::text), 1, 8))::bit(32)::int % 5 = 0;
   CREATE TABLE cs_train AS SELECT user_id, item_id FROM ml_raw WHERE item_id NOT IN (SELECT item_id FROM cold_items);
   CREATE TABLE cs_test AS SELECT user_id, item_id FROM ml_raw WHERE item_id IN (SELECT item_id FROM cold_items)
     AND user_id IN (SELECT user_id FROM ml_raw WHERE item_id NOT IN (SELECT item_id FROM cold_items))"
echo "data: $(q "SELECT (SELECT count(*) FROM cold_items) || ' held-out movies of ' || (SELECT count(*) FROM ml_items) || '; ' || (SELECT count(*) FROM cs_train) || ' train ratings; ' || (SELECT count(*) FROM cs_test) || ' test ratings of ' || (SELECT count(DISTINCT user_id) FROM cs_test) || ' users'")"

GENRE='"columns": ['"$cols"'"release_year"]'
printf '%-24s %9s %9s %8s\n' model "ndcg@10" "recall@10" seconds
recs_of() {  # model: the top 10 of the held-out movies per test user
  echo "SELECT u.user_id, r.item_id, r.rank FROM users u, cand, LATERAL mkt.recommend('c_$1', u.user_id, 10, true, cand.ids) r"
}
RANDOM_RECS="SELECT user_id, item_id, rank FROM (SELECT u.user_id, c.item_id, row_number() OVER (PARTITION BY u.user_id ORDER BY md5(u.user_id || ':' || c.item_id)) AS rank FROM users u, cold_items c) x WHERE rank <= 10"
run() {  # name algorithm params
  local secs=- m recs
  if [ "$2" = random ]; then recs=$RANDOM_RECS; else
    secs=$(q "SET mkt.progress_interval = 0; SELECT round(train_seconds::numeric, 1) FROM mkt.train_recommender('c_$1', 'cs_train', algorithm => '$2', params => '$3')")
    recs=$(recs_of "$1")
  fi
  m=$(q "WITH cand AS (SELECT array_agg(item_id ORDER BY item_id) AS ids FROM cold_items),
         users AS (SELECT user_id, count(*) AS n FROM cs_test GROUP BY user_id),
         recs AS ($recs),
         per_user AS (
           SELECT u.user_id,
                  coalesce(sum(1 / log(2, r.rank + 1.0)) FILTER (WHERE t.item_id IS NOT NULL), 0)
                    / (SELECT sum(1 / log(2, i + 1.0)) FROM generate_series(1, least(u.n, 10)) i) AS ndcg,
                  count(t.item_id)::float8 / least(u.n, 10) AS recall
           FROM users u LEFT JOIN recs r ON r.user_id = u.user_id
                LEFT JOIN cs_test t ON t.user_id = r.user_id AND t.item_id = r.item_id
           GROUP BY u.user_id, u.n)
         SELECT round(avg(ndcg)::numeric, 4) || ' ' || round(avg(recall)::numeric, 4) FROM per_user")
  printf '%-24s %9s %9s %8s\n' "$1" ${m% *} ${m#* } "$secs"
}
run popularity popularity '{}'
run random random '{}'
run neural_genres neural "{\"item_features\": {\"source\": \"ml_items\", \"key\": \"item_id\", $GENRE}}"
run neural_text neural '{"item_features": {"source": "ml_items", "key": "item_id", "text_columns": ["description"]}}'
run neural_genres_text neural "{\"item_features\": {\"source\": \"ml_items\", \"key\": \"item_id\", $GENRE, \"text_columns\": [\"description\"]}}"
