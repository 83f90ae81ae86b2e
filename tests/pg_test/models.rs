// The model catalog: lifecycle, the serving cache and shared model files, export/import, retraining, reports, ownership.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn als_train_recommend_and_lifecycle() {
    planted_table("t_life");
    let v = Spi::get_one::<i32>(
        "SELECT version FROM mkt.train_recommender('life', 't_life', weight_col => 'w', params => '{\"factors\": 4, \"iterations\": 5}')",
    )
    .unwrap();
    assert_eq!(v, Some(1));
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 5)"), 5);
    // user 1 is in group 1: its recommendations are unseen group-1 items
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 3) WHERE item_id % 3 <> 1"), 0);
    assert_eq!(
        count("SELECT count(*) FROM mkt.recommend('life', 1, 30) r JOIN t_life t ON t.user_id = 1 AND t.item_id = r.item_id"),
        0
    );
    assert!(count("SELECT count(*) FROM mkt.recommend('life', 1, 30, exclude_seen => false)") == 30);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 10, candidates => ARRAY[2, 5, 5, 999])"), 2);
    assert_eq!(count("SELECT max(rank) FROM mkt.recommend('life', 1, 4)"), 4);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('life', 2)"), 120);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('life', 2, ARRAY[1, 2, 424242])"), 6);
    assert_eq!(count("SELECT count(*) FROM mkt.similar_items('life', 3, 5) WHERE item_id % 3 = 0"), 5);
    // second version, not deployed: serving keeps version 1 until deploy
    Spi::run("SELECT * FROM mkt.train_recommender('life', 't_life', algorithm => 'popularity', params => '{\"deploy\": false}')")
        .unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 1"), 1);
    Spi::run("SELECT mkt.deploy('life', 2)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 2"), 1);
    let (state, msg) = try_sql("SELECT * FROM mkt.similar_items('life', 3)");
    assert_eq!(state, "0A000", "{msg}");
    // dropping the deployed version deploys the newest remaining one
    assert_eq!(count("SELECT mkt.drop_model('life', 2)"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 1"), 1);
    assert_eq!(count("SELECT mkt.drop_model('life')"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.model_blobs"), count("SELECT count(*) FROM mkt.model_blobs b JOIN mkt.model_versions USING (model_id)"));
}

#[pg_test]
fn model_cache_stays_within_its_budget() {
    // the budget bounds private copies; mapped models are counted apart (see the next test)
    Spi::run("SET mkt.shared_models = off").unwrap();
    planted_table("t_cache");
    for m in ["c1", "c2", "c3"] {
        Spi::run(&format!("SELECT * FROM mkt.train_recommender('{m}', 't_cache', algorithm => 'popularity')")).unwrap();
        assert_eq!(count(&format!("SELECT count(*) FROM mkt.recommend('{m}', 1, 2)")), 2);
    }
    assert!(count("SELECT models FROM mkt.cache_stats()") >= 3);
    // A model larger than the whole budget stays (it is being served); every other one goes.
    Spi::run("CREATE TABLE t_cache_big AS SELECT u AS user_id, (u * 31 + n * 17) % 500 AS item_id FROM generate_series(1, 8000) u, generate_series(1, 10) n").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('cbig', 't_cache_big', algorithm => 'als', params => '{\"factors\": 32, \"iterations\": 1}')").unwrap();
    Spi::run("SET mkt.model_cache_mb = 1").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('cbig', 1, 2)"), 2);
    assert_eq!(count("SELECT models FROM mkt.cache_stats()"), 1);
    assert!(count("SELECT bytes FROM mkt.cache_stats()") > 1 << 20);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('c1', 1, 2)"), 2);
    assert_eq!(count("SELECT models FROM mkt.cache_stats()"), 1);
}

#[pg_test]
fn deployed_models_are_served_from_shared_file_mappings() {
    // The files of one model version (named <database>-<model_id>-...): the folder also holds the
    // files of the tests that run beside this one.
    let files = |id: i64| {
        count(&format!(
            "SELECT count(*) FROM pg_ls_dir('pg_marketing_models', true, false) f WHERE f LIKE '%.model' AND split_part(f, '-', 2) = '{id}'"
        ))
    };
    let id_of = |name: &str| count(&format!("SELECT model_id FROM mkt.model_versions WHERE model_name = '{name}'"));
    Spi::run("CREATE TABLE t_shm AS SELECT u AS user_id, (u * 31 + n * 17) % 500 AS item_id FROM generate_series(1, 8000) u, generate_series(1, 10) n").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('shm', 't_shm', algorithm => 'als', params => '{\"factors\": 32, \"iterations\": 1}')").unwrap();
    let shm = id_of("shm");
    assert_eq!(files(shm), 1, "the deploying transaction writes the version's file");
    Spi::run("CREATE TEMP TABLE shm_mapped AS SELECT u, r.* FROM generate_series(1, 8000, 97) u, mkt.recommend('shm', u, 5) r").unwrap();
    assert_eq!(files(shm), 1, "serving maps it and writes nothing more");
    // users x 32 factors and the seen items are viewed in the mapping, not copied
    assert!(count("SELECT shared_bytes FROM mkt.cache_stats()") > 8000 * 32 * 4);
    // the same bytes decoded privately rank exactly the same
    Spi::run("SET mkt.shared_models = off").unwrap();
    Spi::run("SELECT mkt.import_model('shm_private', mkt.export_model('shm'))").unwrap();
    let shared = count("SELECT shared_bytes FROM mkt.cache_stats()");
    assert_eq!(
        count("SELECT count(*) FROM (SELECT u, r.* FROM generate_series(1, 8000, 97) u, mkt.recommend('shm_private', u, 5) r
               EXCEPT SELECT * FROM shm_mapped) d"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM shm_mapped"), 83 * 5);
    assert_eq!(count("SELECT shared_bytes FROM mkt.cache_stats()"), shared, "a private copy maps nothing");
    assert_eq!(files(shm), 1);
    assert_eq!(files(id_of("shm_private")), 0, "a private import writes no file");
    // dropping the version removes its file
    Spi::run("SELECT mkt.drop_model('shm')").unwrap();
    assert_eq!(files(shm), 0);
}

#[pg_test]
fn export_import_round_trips_exactly() {
    planted_table("t_exp");
    Spi::run("SELECT * FROM mkt.train_recommender('exp', 't_exp', algorithm => 'neural', params => '{\"epochs\": 3, \"dim\": 8, \"hidden\": 8}')").unwrap();
    let v = Spi::get_one::<i32>("SELECT mkt.import_model('exp_copy', mkt.export_model('exp'))").unwrap();
    assert_eq!(v, Some(1));
    assert_eq!(
        count("SELECT count(*) FROM (SELECT * FROM mkt.recommend_all('exp', 5) EXCEPT SELECT * FROM mkt.recommend_all('exp_copy', 5)) d"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('exp_copy', 5)"), 300);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'exp_copy' AND algorithm = 'neural' AND deployed"), 1);
    let (s, m) = try_sql("SELECT mkt.import_model('exp_bad', substring(mkt.export_model('exp', 1) from 1 for 200))");
    assert_eq!(s, "XX001", "{m}");
    let (s, _) = try_sql("SELECT mkt.export_model('exp', 7)");
    assert_eq!(s, "42704");
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'exp_bad'"), 0);
}

#[pg_test]
fn retrain_deploys_by_rule_and_rollback_goes_back() {
    planted_table("t_rt");
    Spi::run("SELECT * FROM mkt.train_recommender('rt', 't_rt', params => '{\"factors\": 4, \"iterations\": 5}')").unwrap();
    let row = |sql: &str| Spi::get_two::<i32, bool>(&format!("SELECT version, deployed FROM {sql}")).unwrap();
    assert_eq!(row("mkt.retrain('rt', 'never')"), (Some(2), Some(false)));
    assert_eq!(count("SELECT version FROM mkt.models WHERE model_name = 'rt' AND deployed"), 1);
    assert_eq!(row("mkt.retrain('rt', 'always')"), (Some(3), Some(true)));
    assert_eq!(count("SELECT version FROM mkt.models WHERE model_name = 'rt' AND deployed"), 3);
    // nothing newer than the serving version: if_better has nothing to judge by and keeps it
    let (m, p, d) = Spi::get_three::<f64, f64, bool>("SELECT metric, previous_metric, deployed FROM mkt.retrain('rt')").unwrap();
    assert!(m.is_some() && p.is_none() && d == Some(false));
    // new interactions: both are ranked on ones the serving version never trained on (a fair,
    // non-zero score for it), and if_better deploys exactly when the challenger beat it
    Spi::run("INSERT INTO t_rt SELECT u, i, 1 FROM generate_series(1, 60) u, generate_series(1, 30) i WHERE i % 3 = u % 3 AND (u * 7 + i) % 4 = 0").unwrap();
    let (m, p, d) = Spi::get_three::<f64, f64, bool>("SELECT metric, previous_metric, deployed FROM mkt.retrain('rt')").unwrap();
    assert!(p.unwrap() > 0.1, "serving version ndcg@10 {p:?} on fresh interactions");
    assert_eq!(d.unwrap(), m.unwrap() > p.unwrap());
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'rt' AND metrics ? 'retrain_ndcg@10'"), 4);
    Spi::run("SELECT mkt.deploy('rt', 3)").unwrap();
    assert_eq!(Spi::get_one::<i32>("SELECT mkt.rollback('rt')").unwrap(), Some(if d.unwrap() { 5 } else { 1 }));
    assert_eq!(count("SELECT count(*) FROM mkt.deploy_history WHERE model_name = 'rt' AND reason = 'rollback'"), 1);
    assert!(count("SELECT count(*) FROM mkt.deploy_history WHERE model_name = 'rt' AND reason LIKE 'retrain: ndcg@10 %'") >= 1);
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('rt', 'sometimes')").0, "22023");
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('nope')").0, "42704");
    Spi::run("SELECT * FROM mkt.train_recommender('rt_once', 't_rt', algorithm => 'popularity')").unwrap();
    assert_eq!(try_sql("SELECT mkt.rollback('rt_once')").0, "55000");
}

#[pg_test]
fn reports_are_self_contained_html_with_the_numbers() {
    planted_table("t_rep");
    Spi::run("SELECT * FROM mkt.train_recommender('rep', 't_rep', algorithm => 'neural', params => '{\"epochs\": 3, \"dim\": 8, \"hidden\": 8}')").unwrap();
    Spi::run("SELECT * FROM mkt.evaluate_recommender('rep', 't_rep', 10)").unwrap();
    let page = Spi::get_one::<String>("SELECT mkt.model_report('rep')").unwrap().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    for tag in ["table", "svg", "tr", "h2"] {
        assert_eq!(page.matches(&format!("<{tag}")).count(), page.matches(&format!("</{tag}>")).count(), "{tag}");
    }
    assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("<script"));
    let loss = Spi::get_one::<String>("SELECT round(loss::numeric, 4)::text FROM mkt.training_epochs e JOIN mkt.model_versions v USING (model_id) WHERE model_name = 'rep' AND epoch = 2").unwrap().unwrap();
    assert!(page.contains(&format!("<td>{loss}</td>")), "epoch 2 loss {loss}, rounded, missing");
    let ndcg = Spi::get_one::<String>("SELECT round((metrics->>'ndcg@10')::numeric, 4)::text FROM mkt.model_versions WHERE model_name = 'rep'").unwrap().unwrap();
    assert!(page.contains(&format!("<td>{ndcg}</td>")), "ndcg {ndcg} missing");
    assert!(page.contains("Training curve") && page.contains("<polyline"));
    Spi::run("SELECT mkt.create_policy('rep_pol', ARRAY['a', 'b'], 'q_learning')").unwrap();
    Spi::run("DO $$ BEGIN FOR i IN 1..30 LOOP PERFORM mkt.reward((SELECT decision_id FROM mkt.decide('rep_pol', '{}')), 1); END LOOP; END $$").unwrap();
    let page = Spi::get_one::<String>("SELECT mkt.model_report('rep_pol')").unwrap().unwrap();
    assert!(page.contains("Learning curve") && page.contains("<td>30</td>") && page.matches("<svg").count() == 2);
    assert_eq!(try_sql("SELECT mkt.model_report('nothing')").0, "42704");
}

#[pg_test]
fn model_ownership_and_grants() {
    Spi::run(
        "CREATE ROLE own_alice; CREATE ROLE own_bob;
         GRANT USAGE ON SCHEMA mkt TO own_alice, own_bob;
         GRANT ALL ON ALL TABLES IN SCHEMA mkt TO own_alice, own_bob;
         GRANT ALL ON ALL SEQUENCES IN SCHEMA mkt TO own_alice, own_bob",
    )
    .unwrap();
    planted_table("own_ev");
    Spi::run("GRANT SELECT ON own_ev TO own_alice, own_bob").unwrap();
    let rec = "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('own_m', 1, 3)";
    // The first trainer owns the model.
    let (s, m, _) = as_role("own_alice", "SELECT version FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')");
    assert_eq!(s, "00000", "{m}");
    assert_eq!(
        Spi::get_one::<String>("SELECT grantee::text FROM mkt.model_acl WHERE model_name = 'own_m' AND privilege = 'owner'").unwrap().as_deref(),
        Some("own_alice")
    );
    let top = as_role("own_alice", rec).2.unwrap();
    // Another role can neither use nor manage it, through the functions or the tables.
    for sql in [
        rec,
        "SELECT length(mkt.export_model('own_m'))",
        "SELECT count(*) FROM mkt.similar_items('own_m', 1, 3)",
        "SELECT mkt.deploy('own_m', 1)",
        "SELECT mkt.drop_model('own_m')",
        "SELECT version FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')",
        "SELECT count(*) FROM mkt.retrain('own_m')",
        "SELECT mkt.grant_model('own_m', 'own_bob', 'manage')",
        "INSERT INTO mkt.model_acl (model_name, grantee, privilege) VALUES ('own_m', 'own_bob', 'manage')",
    ] {
        let (s, m, _) = as_role("own_bob", sql);
        assert_eq!(s, "42501", "{sql}: {m}");
    }
    let (_, m, _) = as_role("own_bob", rec);
    assert!(m.contains("permission denied to use model 'own_m'") && m.contains("own_alice"), "{m}");
    for table in ["mkt.models", "mkt.model_versions", "mkt.model_blobs", "mkt.deployments", "mkt.deploy_history"] {
        let (s, m, v) = as_role("own_bob", &format!("SELECT count(*)::text FROM {table}"));
        assert_eq!((s.as_str(), v.as_deref()), ("00000", Some("0")), "{table}: {m}");
    }
    // use: serve and export, not deploy. A backend that cached the model for alice re-checks bob.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob')").0, "00000");
    assert_eq!(as_role("own_bob", rec).2.as_deref(), Some(top.as_str()));
    assert_eq!(as_role("own_bob", "SELECT mkt.deploy('own_m', 1)").0, "42501");
    // manage: a new version by bob; alice still owns the model.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob', 'manage')").0, "00000");
    let (s, m, v) = as_role("own_bob", "SELECT version::text FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')");
    assert_eq!((s.as_str(), v.as_deref()), ("00000", Some("2")), "{m}");
    assert_eq!(count("SELECT count(*) FROM mkt.model_acl WHERE model_name = 'own_m' AND privilege = 'owner' AND grantee = 'own_alice'"), 1);
    // Revoking takes effect in this backend at once, though it served bob a moment ago.
    assert_eq!(as_role("own_alice", "SELECT mkt.revoke_model('own_m', 'own_bob')::text").2.as_deref(), Some("2"));
    assert_eq!(as_role("own_bob", rec).0, "42501");
    // public: every role.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'public')").0, "00000");
    assert_eq!(as_role("own_bob", rec).0, "00000");
    // Ownership moves with a grant of 'owner'; the old owner then needs a grant like anyone.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob', 'owner')").0, "00000");
    assert_eq!(as_role("own_alice", "SELECT mkt.deploy('own_m', 1)").0, "42501");
    assert_eq!(as_role("own_bob", "SELECT mkt.deploy('own_m', 1)").0, "00000");
    // Bad grants.
    assert_eq!(try_sql("SELECT mkt.grant_model('own_m', 'no_such_role')").0, "42704");
    assert_eq!(try_sql("SELECT mkt.grant_model('no_such_model', 'own_bob')").0, "42704");
    assert_eq!(try_sql("SELECT mkt.grant_model('own_m', 'own_bob', 'admin')").0, "22023");
    assert_eq!(try_sql("SELECT mkt.revoke_model('own_m', 'own_bob', 'owner')").0, "22023");
}
