// The whole SQL surface: NULL for every argument, injection through every name, documentation.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn injection_attempts_run_nothing() {
    // A canary table, a function that would record that it ran, and a place for it to write.
    Spi::run("CREATE TABLE canary AS SELECT u AS user_id, u % 7 AS item_id, now() AS ts, 1.0::float8 AS amount,
              'view'::text AS event_type, jsonb_build_object('segment', u % 3) AS context, 'a'::text AS action,
              1.0::float8 AS reward, 0.5::float8 AS propensity FROM generate_series(1, 50) u").unwrap();
    Spi::run("CREATE TABLE pwned (at timestamptz)").unwrap();
    Spi::run("CREATE FUNCTION mark() RETURNS bool LANGUAGE sql AS 'INSERT INTO pwned VALUES (now()) RETURNING true'").unwrap();
    Spi::run("SELECT mkt.create_policy('inj', ARRAY['a', 'b'], 'thompson')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('inj_m', 'canary')").unwrap();
    let payloads = [
        "canary; DROP TABLE canary",
        "canary\"; DROP TABLE canary; --",
        "canary'); DROP TABLE canary; --",
        "SELECT * FROM canary; DROP TABLE canary",
        "SELECT * FROM canary; INSERT INTO pwned VALUES (now())",
        "WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d",
        "WITH d AS (INSERT INTO pwned VALUES (now()) RETURNING 1) SELECT * FROM canary",
        "SELECT * FROM canary WHERE mark()",
        "SELECT *, mark() FROM canary",
        "SELECT * INTO pwned2 FROM canary",
        "COPY canary TO '/tmp/pwned'",
        "DELETE FROM canary",
        "SELECT * FROM canary FOR UPDATE",
    ];
    let columns = [
        "user_id) FROM canary; DROP TABLE canary; --",
        "user_id\"; DROP TABLE canary; --",
        "mark()",
        "(SELECT mark())",
    ];
    let q = |v: &str| v.replace('\'', "''");
    let mut calls: Vec<String> = Vec::new();
    for p in payloads {
        let p = q(p);
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.profile('{p}')"));
        calls.push(format!("SELECT * FROM mkt.clean('{p}', 'inj_clean')"));
        calls.push(format!("SELECT * FROM mkt.split('{p}', 'inj_a', 'inj_b')"));
        calls.push(format!("SELECT * FROM mkt.evaluate_recommender('inj_m', '{p}', 5)"));
        calls.push(format!("SELECT * FROM mkt.train_policy('inj', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.estimate_policy_value('{p}', 'reward', 'propensity', 'propensity')"));
        calls.push(format!("SELECT mkt.fit_transform('inj_t', '{p}', '{{\"amount\": \"standard\"}}')"));
        calls.push(format!("SELECT * FROM mkt.rfm('{p}', 'user_id', 'ts', 'amount', 'inj_rfm')"));
        calls.push(format!("SELECT * FROM mkt.user_features('{p}', 'inj_uf')"));
        // as a target table name
        calls.push(format!("SELECT * FROM mkt.clean('canary', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.split('canary', '{p}', 'inj_b')"));
    }
    for c in columns {
        let c = q(c);
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', user_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', item_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', weight_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_policy('inj', 'canary', context_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.estimate_policy_value('canary', '{c}', 'propensity', 'propensity')"));
        calls.push(format!("SELECT * FROM mkt.rfm('canary', '{c}', 'ts', 'amount', 'inj_rfm')"));
        calls.push(format!("SELECT * FROM mkt.split('canary', 'inj_a', 'inj_b', user_col => '{c}')"));
        calls.push(format!("SELECT mkt.fit_transform('inj_t', 'canary', '{{\"{c}\": \"standard\"}}')"));
    }
    for call in &calls {
        let (state, msg) = try_sql(call);
        assert_ne!(state, "00000", "accepted: {call}");
        assert!(!state.starts_with("XX"), "internal error {state} {msg}: {call}");
    }
    assert_eq!(count("SELECT count(*) FROM canary"), 50, "the canary is intact");
    assert_eq!(count("SELECT count(*) FROM pwned"), 0, "no injected statement ran");
    assert_eq!(count("SELECT count(*) FROM pg_class WHERE relname IN ('pwned2', 'inj_clean', 'inj_a', 'inj_b', 'inj_rfm', 'inj_uf')"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'inj'"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.transforms WHERE transform_name = 'inj_t'"), 0);
}

#[pg_test]
fn every_function_takes_null_for_each_argument() {
    // Every SQL function of the extension, called with NULL in one argument at a time (the others
    // NULL too, or left to their defaults): a result (strict functions return NULL) or a clear
    // error, never an internal error or a crash.
    planted_table("t_null");
    Spi::run("SELECT * FROM mkt.train_recommender('nullm', 't_null')").unwrap();
    Spi::run("SELECT mkt.create_policy('nullp', ARRAY['a', 'b'])").unwrap();
    let functions: Vec<(String, Vec<String>, i32)> = Spi::connect(|c| {
        c.select(
            "SELECT p.proname::text,
                    array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t),
                    p.pronargdefaults::int
             FROM pg_proc p
             WHERE p.pronamespace = 'mkt'::regnamespace AND p.prokind = 'f'
               AND p.prorettype <> 'trigger'::regtype AND p.proname <> 'campaign_fire' AND p.proname NOT LIKE 'campaign\\_trigger\\_%'
             ORDER BY 1",
            None,
            &[],
        )?
        .map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap(),
                r.get::<Vec<String>>(2)?.unwrap(),
                r.get::<i32>(3)?.unwrap(),
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap();
    assert!(functions.len() > 40, "found {} functions", functions.len());
    let mut calls = 0;
    for (name, types, defaults) in &functions {
        let required = types.len() - *defaults as usize;
        // all NULL; then each optional argument NULL on its own after required NULLs
        for n in [types.len(), required] {
            let args: Vec<String> = types[..n].iter().map(|t| format!("NULL::{t}")).collect();
            let (state, msg) = try_sql(&format!("SELECT * FROM mkt.{name}({})", args.join(", ")));
            calls += 1;
            assert!(
                !state.starts_with("XX") && !state.starts_with("58"),
                "mkt.{name}({}) gave {state}: {msg}",
                args.join(", ")
            );
        }
    }
    assert!(calls > 80);
    // still serving, and the catalog is as it was
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('nullm', 1, 3)"), 3);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions"), 1);
}

#[pg_test]
fn every_function_is_documented() {
    let missing = Spi::get_one::<String>(
        "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'mkt' AND obj_description(p.oid, 'pg_proc') IS NULL",
    )
    .unwrap();
    assert_eq!(missing, None, "functions without COMMENT ON FUNCTION");
    // model-dependent functions must not claim IMMUTABLE
    assert_eq!(count("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'mkt' AND p.provolatile = 'i'"), 0);
}

