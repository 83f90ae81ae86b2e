//! Predictors and uplift models on customer tables: propensity to buy or respond, churn, expected
//! spend, and the difference a treatment makes per customer. Trained from any table or query,
//! stored in the model catalog, served one row at a time (jsonb) or for a whole source.

mod api;
mod catalog;
mod evaluate;
pub mod retrain;
mod rows;
pub mod serve;
mod train;

pgrx::extension_sql_file!(
    "../../sql/predictors.sql",
    name = "predictors_functions",
    requires = [
        predictors::api::train_predictor,
        predictors::api::predict,
        predictors::api::predict_all,
        predictors::api::predict_class,
        predictors::api::predict_proba,
        predictors::api::predict_class_all,
        predictors::api::evaluate_predictor,
        predictors::api::roc_curve,
        predictors::api::feature_importance,
        predictors::api::explain_prediction,
        predictors::api::train_uplift,
        predictors::api::predict_uplift,
        predictors::api::predict_uplift_all,
        predictors::api::evaluate_uplift,
        predictors::api::uplift_curve_svg,
    ]
);
