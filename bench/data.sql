-- Benchmark data: 1M interactions, 50k users, 10k items, power-law item popularity; deterministic.
SELECT setseed(0.42);
DROP TABLE IF EXISTS bench_events;
CREATE TABLE bench_events AS
SELECT (1 + floor(random() * 50000))::bigint AS user_id,
       (1 + floor(10000 * power(random(), 2.5)))::bigint AS item_id
FROM generate_series(1, 1000000);
ANALYZE bench_events;
