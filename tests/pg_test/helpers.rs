// Helpers of the in-server tests (#[pg_test]). Each test runs in its own transaction, rolled back at the
// end, in parallel with the others: every test uses its own tables and model names.

use pgrx::prelude::*;

/// Runs `sql` in a subtransaction; returns (SQLSTATE, message), '00000' when it succeeded.
fn try_sql(sql: &str) -> (String, String) {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text, OUT state text, OUT msg text)
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE q; state := '00000'; msg := '';
         EXCEPTION WHEN OTHERS THEN
             GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
         END $$",
    )
    .unwrap();
    let (s, m) = Spi::get_two_with_args::<String, String>("SELECT * FROM pg_temp.try_sql($1)", &[sql.into()]).unwrap();
    (s.unwrap(), m.unwrap())
}

/// Each (statement, SQLSTATE, message fragment) fails with that state and a message naming it.
fn expect_errors(cases: &[(&str, &str, &str)]) {
    for (sql, state, fragment) in cases {
        let (s, m) = try_sql(sql);
        assert_eq!(&s, state, "{sql}: {m}");
        assert!(m.contains(fragment), "{sql}: message '{m}' lacks '{fragment}'");
    }
}

fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap().unwrap()
}

/// 60 users in 3 taste groups over 30 items: users of group g like items i with i % 3 == g.
fn planted_table(name: &str) {
    Spi::run(&format!(
        "CREATE TABLE {name} AS
         SELECT u AS user_id, i AS item_id, 1 + (u + i) % 3 AS w
         FROM generate_series(1, 60) u, generate_series(1, 30) i
         WHERE i % 3 = u % 3 AND (u * 7 + i) % 4 <> 0"
    ))
    .unwrap();
}

fn campaign_setup(policy: &str, table: &str) {
    Spi::run(&format!("SELECT mkt.create_policy('{policy}', ARRAY['a', 'b'], 'thompson', '{{\"draws\": 20}}')")).unwrap();
    Spi::run(&format!("CREATE TABLE {table} (user_id bigint, event_type text, value numeric, region text, at timestamptz DEFAULT now())")).unwrap();
}

/// Runs `sql` as `role` in a subtransaction: (SQLSTATE, message, first column of the first row).
fn as_role(role: &str, sql: &str) -> (String, String, Option<String>) {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.as_role(r text, q text, OUT state text, OUT msg text, OUT val text)
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE format('SET ROLE %I', r);
             BEGIN
                 EXECUTE q INTO val; state := '00000'; msg := '';
             EXCEPTION WHEN OTHERS THEN
                 GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
             END;
             RESET ROLE;
         END $$",
    )
    .unwrap();
    let row = Spi::get_three_with_args::<String, String, String>(
        "SELECT * FROM pg_temp.as_role($1, $2)",
        &[role.into(), sql.into()],
    )
    .unwrap();
    (row.0.unwrap(), row.1.unwrap(), row.2)
}

fn decide_row(sql: &str) -> (i64, String, f64) {
    let (id, action, p) = Spi::get_three::<i64, String, f64>(sql).unwrap();
    (id.unwrap(), action.unwrap(), p.unwrap())
}

fn float(sql: &str) -> f64 {
    Spi::get_one::<f64>(sql).unwrap().unwrap()
}
