//! Decision policies: Q-learning, Thompson sampling and LinUCB choosing offers, learning from
//! rewards (at once, deferred, or in batch from logs), off-policy evaluation, the reward trigger.

mod api;
pub mod cache;
pub mod catalog;
mod decide;
mod decide_all;
mod learn;
mod lifecycle;
mod offpolicy;
pub mod policy;
pub mod report;
mod reward_trigger;

pgrx::extension_sql_file!("../../sql/schema/policies.sql", name = "policies_schema");
pgrx::extension_sql_file!(
    "../../sql/policies.sql",
    name = "policies_functions",
    requires = [
        policies::api::create_policy,
        policies::api::drop_policy,
        policies::api::decide,
        policies::api::decide_all,
        policies::api::reward,
        policies::api::fold_rewards,
        policies::api::train_policy,
        policies::api::policy_probabilities,
        policies::api::policy_values,
        policies::api::policy_heatmap_svg,
        policies::api::simulate_campaign,
        policies::api::estimate_policy_value,
        policies::api::evaluate_policy,
        policies::reward_trigger::reward_trigger,
    ]
);
