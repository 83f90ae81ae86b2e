//! Campaigns: a trigger on an event table decides with a policy for each qualifying row, with a
//! stable control group, frequency caps, budgets, schedules and an outbox for delivery workers;
//! attribution of outcomes and the uplift report.

mod api;
mod catalog;
mod lifecycle;

pgrx::extension_sql_file!("../../sql/schema/campaigns.sql", name = "campaigns_schema");
pgrx::extension_sql_file!(
    "../../sql/campaigns.sql",
    name = "campaigns_functions",
    requires = [
        "campaigns_schema",
        campaigns::api::create_campaign,
        campaigns::api::pause_campaign,
        campaigns::api::resume_campaign,
        campaigns::api::drop_campaign,
        campaigns::api::campaign_report,
        campaigns::api::campaign_report_svg,
    ]
);
