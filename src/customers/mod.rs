//! Customers: RFM summaries of a transactions table, and customer value models (BG/NBD, MBG/NBD,
//! Pareto/NBD with Gamma-Gamma) fitted on it, stored in the model catalog and served as
//! P(alive), expected purchases and CLV per customer.

mod api;
mod catalog;
mod evaluate;
mod rfm;
pub mod retrain;
mod serve;
mod train;
mod transactions;

pgrx::extension_sql_file!(
    "../../sql/customers.sql",
    name = "customers_functions",
    requires = [
        customers::api::rfm_summary,
        customers::api::train_clv,
        customers::api::customer_value,
        customers::api::p_alive,
        customers::api::customer_clv,
        customers::api::evaluate_clv,
        customers::api::clv_report_svg,
    ]
);
