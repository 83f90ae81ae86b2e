//! Recommenders: training from any table, view or SELECT (popularity, ALS, item-kNN, EASE, BPR,
//! the neural models), serving top-k from the deployed version, evaluation, explanations,
//! hyper-parameter search and champion/challenger retraining.

mod api;
mod catalog;
mod evaluate;
mod explain;
mod features;
mod live_history;
mod retrain;
mod serve;
mod teacher;
mod train;
mod tune;

pgrx::extension_sql_file!(
    "../../sql/recommenders.sql",
    name = "recommenders_functions",
    requires = [
        recommenders::api::train_recommender,
        recommenders::api::recommend,
        recommenders::api::recommend_text,
        recommenders::api::recommend_all,
        recommenders::api::similar_items,
        recommenders::api::evaluate_recommender,
        recommenders::api::explain_recommendation,
        recommenders::api::tune_recommender,
        recommenders::api::retrain,
    ]
);
