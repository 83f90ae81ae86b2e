// Erasure of one customer everywhere.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn forget_subject_erases_a_customer_everywhere() {
    planted_table("t_gdpr");
    Spi::run("SELECT * FROM mkt.train_recommender('gdpr', 't_gdpr', params => '{\"factors\": 4, \"iterations\": 3}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('gdpr', 't_gdpr', algorithm => 'item_knn')").unwrap();
    Spi::run("SELECT mkt.create_policy('gdpr_p', ARRAY['a', 'b'], 'thompson')").unwrap();
    Spi::run("SELECT mkt.reward(decision_id, 1) FROM mkt.decide('gdpr_p', '{}', subject => '7')").unwrap();
    Spi::run("SELECT * FROM mkt.decide('gdpr_p', '{}', subject => '8')").unwrap();
    let top = |u: i64| {
        Spi::get_one::<String>(&format!("SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('gdpr', {u}, 5)"))
            .unwrap()
            .unwrap()
    };
    let (seven, eight, stranger) = (top(7), top(8), top(100_000));
    assert_ne!(seven, stranger, "user 7 is served personally before");
    let removed = || {
        Spi::get_one::<String>("SELECT string_agg(what || '=' || removed, ' ' ORDER BY what) FROM mkt.forget_subject('7')")
            .unwrap()
            .unwrap()
    };
    assert_eq!(removed(), "attributions=0 campaign_touches=0 decisions=1 model_versions=2 outbox=0");
    assert_eq!(top(7), top(100_000), "a forgotten user is served as a new one");
    assert_eq!(top(8), eight, "everyone else as before");
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE subject = '7'"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE subject = '8'"), 1);
    assert_eq!(count("SELECT sum(n_users)::bigint FROM mkt.model_versions WHERE model_name = 'gdpr'"), 2 * 59);
    // every version, deployed or not, no longer knows the user
    Spi::run("SELECT mkt.deploy('gdpr', 1)").unwrap();
    assert_eq!(top(7), top(100_000));
    // idempotent
    assert_eq!(removed(), "attributions=0 campaign_touches=0 decisions=0 model_versions=0 outbox=0");
    assert_eq!(try_sql("SELECT * FROM mkt.forget_subject('')").0, "22023");
}
