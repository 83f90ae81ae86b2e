// Data preparation: splits, profiles, transforms, customer tables, cleaning.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn split_methods() {
    Spi::run(
        "CREATE TABLE t_split AS SELECT u AS user_id, i AS item_id, timestamptz '2026-01-01' + i * interval '1 day' AS ts
         FROM generate_series(1, 10) u, generate_series(1, 10) i",
    )
    .unwrap();
    Spi::run("SELECT * FROM mkt.split('t_split', 's_tr', 's_te', method => 'temporal', time_col => 'ts')").unwrap();
    assert_eq!(count("SELECT count(*) FROM s_te"), 20);
    assert_eq!(count("SELECT count(*) FROM s_te WHERE item_id < 9"), 0);
    Spi::run("SELECT * FROM mkt.split('t_split', 'l_tr', 'l_te', method => 'leave_last_out', time_col => 'ts')").unwrap();
    assert_eq!(count("SELECT count(*) FROM l_te WHERE item_id = 10"), 10);
    assert_eq!(count("SELECT count(*) FROM l_tr"), 90);
    Spi::run("SELECT * FROM mkt.split('t_split', 'r_tr', 'r_te', test_fraction => 0.3, seed => 5)").unwrap();
    Spi::run("SELECT * FROM mkt.split('t_split', 'r2_tr', 'r2_te', test_fraction => 0.3, seed => 5)").unwrap();
    assert_eq!(count("SELECT count(*) FROM r_te"), 30);
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM r_te EXCEPT SELECT * FROM r2_te) d"), 0);
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM r_tr INTERSECT SELECT * FROM r_te) d"), 0);
    // Query and view sources split the same way; a function they call cannot write.
    Spi::run("SELECT * FROM mkt.split('SELECT * FROM t_split WHERE user_id <= 5', 'q_tr', 'q_te', test_fraction => 0.3, seed => 5)").unwrap();
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM q_te EXCEPT SELECT * FROM r_te WHERE user_id <= 5) d"), 0);
    assert_eq!(count("SELECT count(*) FROM q_te"), 15);
    Spi::run("CREATE TABLE t_side (x int)").unwrap();
    Spi::run("CREATE FUNCTION pg_temp.sneaky() RETURNS int LANGUAGE sql AS 'INSERT INTO t_side VALUES (1) RETURNING 1'").unwrap();
    Spi::run("CREATE VIEW v_sneaky AS SELECT t.*, pg_temp.sneaky() AS s FROM t_split t").unwrap();
    for src in ["SELECT t.*, pg_temp.sneaky() AS s FROM t_split t", "v_sneaky"] {
        let (state, msg) = try_sql(&format!("SELECT * FROM mkt.split('{}', 'w_tr', 'w_te')", src.replace('\'', "''")));
        assert_eq!(state, "25006", "{src}: {msg}");
    }
    assert_eq!(count("SELECT count(*) FROM t_side"), 0);
}

#[pg_test]
fn profile_matches_sql_aggregates() {
    Spi::run(
        "CREATE TABLE prof (\"Amount $\" numeric, city text, flag bool, at timestamptz);
         INSERT INTO prof SELECT CASE WHEN i % 10 = 0 THEN NULL WHEN i = 7 THEN 1000 ELSE (i * 37) % 101 END,
                                 CASE WHEN i % 3 = 0 THEN 'Berlin' WHEN i % 3 = 1 THEN 'Paris' END, i % 2 = 0,
                                 timestamptz '2026-01-01' + i * interval '1 hour'
         FROM generate_series(1, 500) i",
    )
    .unwrap();
    let p = |col: &str, field: &str| float(&format!("SELECT {field}::float8 FROM mkt.profile('prof') WHERE column_name = '{col}'"));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    assert!(close(p("Amount $", "mean"), float("SELECT avg(\"Amount $\")::float8 FROM prof")));
    assert!(close(p("Amount $", "stddev"), float("SELECT stddev_samp(\"Amount $\")::float8 FROM prof")));
    assert!(close(p("Amount $", "p50"), float("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY \"Amount $\"::float8) FROM prof")));
    assert!(close(p("Amount $", "p25"), float("SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY \"Amount $\"::float8) FROM prof")));
    assert_eq!(p("Amount $", "nulls"), 50.0);
    assert_eq!(p("Amount $", "rows"), 500.0);
    let outliers = count(
        "WITH q AS (SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY \"Amount $\"::float8) q1,
                           percentile_cont(0.75) WITHIN GROUP (ORDER BY \"Amount $\"::float8) q3 FROM prof)
         SELECT count(*) FROM prof, q WHERE \"Amount $\" < q1 - 1.5 * (q3 - q1) OR \"Amount $\" > q3 + 1.5 * (q3 - q1)",
    );
    assert_eq!(p("Amount $", "outliers") as i64, outliers);
    assert!(outliers >= 1);
    assert_eq!(p("city", "distinct_values"), 2.0);
    assert_eq!(p("city", "nulls") as i64, count("SELECT count(*) FROM prof WHERE city IS NULL"));
    assert_eq!(
        Spi::get_one::<String>("SELECT top_values -> 0 ->> 'value' FROM mkt.profile('prof') WHERE column_name = 'city'").unwrap().unwrap(),
        "Paris"
    );
    assert_eq!(
        Spi::get_one::<String>("SELECT max FROM mkt.profile('SELECT at FROM prof WHERE at < ''2026-01-02''') WHERE column_name = 'at'").unwrap().unwrap(),
        Spi::get_one::<String>("SELECT max(at)::text FROM prof WHERE at < '2026-01-02'").unwrap().unwrap()
    );
    assert_eq!(count("SELECT count(*) FROM mkt.profile('prof') WHERE column_name = 'flag' AND mean IS NULL AND distinct_values = 2"), 1);
    assert_eq!(try_sql("SELECT * FROM mkt.profile('nope')").0, "42P01");
}

#[pg_test]
fn transforms_fit_once_and_apply_identically() {
    Spi::run(
        "CREATE TABLE tr_train (\"Price\" float8, city text, same int, y int, empty float8);
         INSERT INTO tr_train VALUES (10, 'a', 1, 1, NULL), (20, 'a', 1, 0, NULL), (30, 'b', 1, 1, NULL),
                                     (40, 'b', 1, 1, NULL), (50, 'c', 1, 0, NULL);
         CREATE TABLE tr_test (\"Price\" float8, city text, same int, y int);
         INSERT INTO tr_test VALUES (25, 'a', 1, 0), (60, 'zzz', 1, 1), (NULL, NULL, 1, 0)",
    )
    .unwrap();
    let outs = count(
        "SELECT count(*) FROM mkt.fit_transform('t1', 'tr_train',
            '{\"Price\": \"standard\", \"city\": {\"type\": \"target_encode\", \"label\": \"y\", \"smoothing\": 2},
              \"same\": \"min_max\"}', target => 'tr_train_out')",
    );
    assert_eq!(outs, 3);
    Spi::run("SELECT mkt.fit_transform('t2', 'tr_train', '{\"city\": \"one_hot\", \"Price\": {\"type\": \"quantile_bucket\", \"n\": 4}}')").unwrap();
    assert_eq!(count("SELECT mkt.apply_transform('t1', 'tr_test', 'tr_test_out')"), 3);
    assert_eq!(count("SELECT mkt.apply_transform('t2', 'tr_test', 'tr_test_out2')"), 3);
    // standard: mean 30, population stddev sqrt(200); applied with the train statistics.
    let std = float("SELECT \"Price_std\" FROM tr_test_out WHERE \"Price\" = 25");
    assert!((std - (25.0 - 30.0) / 200f64.sqrt()).abs() < 1e-12, "{std}");
    assert_eq!(float("SELECT \"Price_std\" FROM tr_train_out WHERE \"Price\" = 50"), 20.0 / 200f64.sqrt());
    // target encoding, smoothing 2, global mean 0.6: a = (2·0.5 + 2·0.6)/4 = 0.55; unseen: 0.6.
    assert!((float("SELECT city_te FROM tr_test_out WHERE city = 'a'") - 0.55).abs() < 1e-12);
    assert!((float("SELECT city_te FROM tr_test_out WHERE city = 'zzz'") - 0.6).abs() < 1e-12);
    // a constant column gives 0, not NaN; NULL stays NULL.
    assert_eq!(count("SELECT count(*) FROM tr_test_out WHERE same_minmax = 0"), 3);
    assert_eq!(count("SELECT count(*) FROM tr_test_out WHERE \"Price_std\" IS NULL"), 1);
    // one-hot: unseen categories are all zeros; quartile buckets of the train prices.
    assert_eq!(count("SELECT city_a + city_b + city_c FROM tr_test_out2 WHERE city = 'a'"), 1);
    assert_eq!(count("SELECT city_a + city_b + city_c FROM tr_test_out2 WHERE city = 'zzz'"), 0);
    assert_eq!(count("SELECT \"Price_bucket\" FROM tr_test_out2 WHERE \"Price\" = 25"), 2);
    assert_eq!(count("SELECT \"Price_bucket\" FROM tr_test_out2 WHERE \"Price\" = 60"), 4);
    // The same statistics on the training rows give the table written at fit time.
    Spi::run("SELECT mkt.apply_transform('t1', 'tr_train', 'tr_train_again')").unwrap();
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM tr_train_out EXCEPT SELECT * FROM tr_train_again) d"), 0);
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM mkt.fit_transform('t1', 'tr_train', '{\"Price\": \"standard\"}')", "42710"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"nope\": \"standard\"}')", "42703"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"city\": \"standard\"}')", "42804"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"empty\": \"standard\"}')", "22000"),
        ("SELECT * FROM mkt.fit_transform('t3', 'SELECT * FROM tr_train WHERE false', '{\"Price\": \"robust\"}')", "22000"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"Price\": \"zscore\"}')", "22023"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"Price\": \"standard\"}', target => 'tr_test')", "42P07"),
        ("SELECT mkt.apply_transform('nope', 'tr_test', 'x')", "42704"),
        ("SELECT mkt.apply_transform('t1', 'tr_test', 'tr_test_out')", "42P07"),
    ];
    for (sql, state) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
    }
    Spi::run("SELECT * FROM mkt.fit_transform('t1', 'tr_train', '{\"Price\": \"log1p\"}', target => 'tr_test_out', replace => true)").unwrap();
    assert!((float("SELECT \"Price_log1p\" FROM tr_test_out WHERE \"Price\" = 10") - 11f64.ln()).abs() < 1e-12);
}

#[pg_test]
fn rfm_and_user_features_on_hand_made_data() {
    Spi::run(
        "CREATE TABLE tx (cust int, at timestamptz, amount numeric);
         INSERT INTO tx VALUES
           (1, '2026-06-30', 100), (1, '2026-06-29', 100), (1, '2026-06-28', 100), (1, '2026-06-27', 100), (1, '2026-06-26', 100),
           (2, '2026-06-20', 50), (2, '2026-06-10', 50), (2, '2026-06-01', 50), (2, '2026-05-01', 50),
           (3, '2026-06-29', 10),
           (4, '2026-01-01', 500), (4, '2026-01-02', 500), (4, '2026-01-03', 500),
           (5, '2025-12-01', 4), (5, '2025-11-01', 4)",
    )
    .unwrap();
    assert_eq!(count("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm_out', as_of => '2026-07-01')"), 5);
    // recency: 1 (1 day), 3 (2 days), 2 (11), 4 (179), 5 (212) -> r scores 5, 4, 3, 2, 1
    let scores = |c: i32| {
        Spi::get_three::<i32, i32, i32>(&format!("SELECT r_score, f_score, m_score FROM rfm_out WHERE customer = {c}")).unwrap()
    };
    assert_eq!(scores(1), (Some(5), Some(5), Some(4)));
    assert_eq!(scores(3), (Some(4), Some(1), Some(2)));
    assert_eq!(scores(4), (Some(2), Some(3), Some(5)));
    assert_eq!(scores(5), (Some(1), Some(2), Some(1)));
    assert_eq!(float("SELECT recency_days FROM rfm_out WHERE customer = 2"), 11.0);
    assert_eq!(float("SELECT monetary FROM rfm_out WHERE customer = 4"), 1500.0);
    let seg = |c: i32| Spi::get_one::<String>(&format!("SELECT segment FROM rfm_out WHERE customer = {c}")).unwrap().unwrap();
    assert_eq!(seg(1), "champions");
    assert_eq!(seg(3), "new");
    assert_eq!(seg(5), "hibernating");
    assert_eq!(seg(4), "at risk");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'amount', 'amount', 'rfm2')").0, "42804");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm_out')").0, "42P07");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm2', quantiles => 1)").0, "22023");

    Spi::run(
        "CREATE TABLE ev (user_id int, ts timestamptz, event_type text, item_id int, value numeric);
         INSERT INTO ev VALUES (1, '2026-06-01 10:00', 'view', 1, 0), (1, '2026-06-01 11:00', 'view', 2, 0),
                               (1, '2026-06-03 09:00', 'purchase', 2, 30), (2, '2026-06-02 08:00', 'add to cart', 5, 12)",
    )
    .unwrap();
    assert_eq!(count("SELECT mkt.user_features('ev', 'uf', value_col => 'value', as_of => '2026-06-04 09:00')"), 2);
    assert_eq!(
        Spi::get_three::<i64, i64, i64>("SELECT n_view, n_purchase, n_add_to_cart FROM uf WHERE user_id = 1").unwrap(),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(count("SELECT active_days FROM uf WHERE user_id = 1"), 2);
    assert_eq!(float("SELECT recency_days FROM uf WHERE user_id = 1"), 1.0);
    assert_eq!(float("SELECT item_diversity FROM uf WHERE user_id = 1"), 2.0 / 3.0);
    assert_eq!(float("SELECT avg_value FROM uf WHERE user_id = 1"), 10.0);
}

#[pg_test]
fn clean_reports_each_step() {
    Spi::run(
        "CREATE TABLE dirty (id int, user_id int, at timestamptz, price text, qty float8, city text);
         INSERT INTO dirty VALUES
           (1, 1, '2026-01-01 10:00', '10.5', 1, 'a'), (1, 1, '2026-01-01 11:00', '10.5', 1, 'a'),
           (2, 2, '2026-01-01 10:00', 'n/a', 2, NULL), (3, 3, '2026-01-01 10:00', '7', NULL, 'b'),
           (4, 4, '2026-01-02 10:00', '8', 3, 'b'), (5, 5, '2026-01-02 10:00', '9', 100, 'b'),
           (6, 6, '2026-01-03 10:00', '11', 2, 'c'), (7, 7, '2026-01-03 10:00', '12', 4, 'c');
         INSERT INTO dirty SELECT 100 + i, 99, '2026-01-05 12:00', '1', 1, 'x' FROM generate_series(1, 30) i",
    )
    .unwrap();
    Spi::run(
        "CREATE TABLE clean_steps AS SELECT * FROM mkt.clean('dirty', 'clean_out', '{
            \"coerce\": {\"price\": \"numeric\"},
            \"dedupe_on\": [\"id\"], \"keep\": \"last\", \"order_by\": \"at\",
            \"bots\": {\"subject\": \"user_id\", \"time\": \"at\", \"max_events_per_day\": 10},
            \"nulls\": {\"city\": \"unknown\", \"qty\": \"median\"},
            \"outliers\": {\"qty\": {\"method\": \"iqr\", \"action\": \"clip\"}}}')",
    )
    .unwrap();
    let step = |s: &str| count(&format!("SELECT rows_affected FROM clean_steps WHERE step LIKE '{s}%'"));
    assert_eq!(step("input"), 38);
    assert_eq!(step("coerce price"), 1);
    assert_eq!(step("dedupe"), 1);
    assert_eq!(step("bots"), 30);
    assert_eq!(step("nulls city"), 1);
    assert_eq!(step("nulls qty"), 1);
    assert_eq!(step("outliers qty"), 1);
    assert_eq!(step("output"), 7);
    // keep last by time: id 1 keeps the 11:00 row
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE id = 1 AND at = '2026-01-01 11:00'"), 1);
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE price IS NULL"), 1);
    assert_eq!(
        Spi::get_one::<String>("SELECT pg_typeof(price)::text FROM clean_out LIMIT 1").unwrap().unwrap(),
        "numeric"
    );
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE city = 'unknown'"), 1);
    // qty after the median fill: 1, 2, 2, 3, 100, 2, 4 -> q1 2, q3 3.5, upper bound 5.75: 100 is clipped to it
    assert_eq!(float("SELECT qty FROM clean_out WHERE id = 5"), 5.75);
    assert_eq!(count("SELECT count(*) FROM dirty"), 38);
    // drop and flag, zscore and quantile
    Spi::run("SELECT * FROM mkt.clean('dirty', 'clean2', '{\"outliers\": {\"qty\": {\"method\": \"quantile\", \"low\": 0, \"high\": 0.99, \"action\": \"flag\"}}, \"nulls\": {\"qty\": \"drop\"}}')").unwrap();
    assert_eq!(count("SELECT count(*) FROM clean2 WHERE qty_outlier"), 1);
    assert_eq!(count("SELECT count(*) FROM clean2 WHERE qty IS NULL"), 0);
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"sparkle\": 1}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"dedupe_on\": [\"nope\"]}')", "42703"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"outliers\": {\"city\": {}}}')", "42804"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"outliers\": {\"qty\": {\"method\": \"magic\"}}}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"coerce\": {\"price\": \"money\"}}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'clean_out')", "42P07"),
        ("SELECT * FROM mkt.clean('nope', 'c3')", "42P01"),
    ];
    for (sql, state) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
    }
}
