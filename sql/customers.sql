-- Customers: RFM summaries and customer value models (see README "Customer lifetime value").

COMMENT ON FUNCTION mkt.rfm_summary(text, text, text, text, text, timestamptz, timestamptz) IS
'One row per customer of a transactions table, view or SELECT, with the semantics of lifetimes'' summary_data_from_transaction_data and calibration_and_holdout_data: purchases in the same period (day, week Monday to Sunday, or month) count once and their amounts add up; frequency is the number of repeat periods, recency the periods from the first to the last purchase, t the periods from the first purchase to the end of observation (calibration_end, else the last transaction); monetary_value is the mean amount of the repeat periods (0 without repeats; NULL without amount_col). With calibration_end, the purchases after it up to holdout_end (else the last transaction) fill holdout_frequency and holdout_monetary_value, and customers who first bought after it are left out. Rows with a NULL customer, time or amount are skipped with a NOTICE; a negative amount is an error.';

COMMENT ON FUNCTION mkt.train_clv(text, text, text, text, text, jsonb) IS
'Fits a customer value model on a transactions source (or, with params input ''summary'', on one row per customer with frequency, recency and t columns) and stores it as a new version of model_name in the model catalog. params: model ''bg_nbd'' (default), ''mbg_nbd'' or ''pareto_nbd''; period ''day'', ''week'' (default) or ''month''; calibration_end (a timestamptz: later purchases are the hold-out mkt.evaluate_clv scores; with holdout false they are an error) and holdout_end; penalizer (default 0); spend ''gamma_gamma'' (default with amount_col) or ''none''; deploy (default true); frequency_col, recency_col, t_col for summary input. Maximum likelihood in log-parameter space with analytic gradients; parameters holds the estimates with standard errors from the Hessian, the log-likelihood, and for Gamma-Gamma its own with the frequency-spend correlation. Gamma-Gamma needs at least 10 repeat buyers.';

COMMENT ON FUNCTION mkt.customer_value(text, float8, float8, text[]) IS
'Each customer''s probability of being alive, expected purchases over the next horizon periods (in the model''s period), expected average spend and CLV (expected spend times the expected purchases of each period, discounted by (1 + discount_rate) per period; NULL without a spend model), from the deployed version of a customer value model. Every customer of the training data when customers is NULL; an unknown customer gets a row of NULLs.';

COMMENT ON FUNCTION mkt.p_alive(text, text) IS
'The probability that a customer is still active under the deployed customer value model; NULL for a customer the model does not know. Cheap (the model is cached per backend): made for campaign conditions such as mkt.p_alive(''clv'', customer_id) < 0.3.';

COMMENT ON FUNCTION mkt.customer_clv(text, text, float8) IS
'A customer''s expected spend over the next horizon periods (undiscounted) under the deployed customer value model; NULL for an unknown customer; an error for a model without a spend model.';

COMMENT ON FUNCTION mkt.evaluate_clv(text, text) IS
'Scores the deployed customer value model on the hold-out after its calibration_end (from the source it was trained on, or transactions): per-customer MAE and RMSE of predicted against actual repeat purchases, their totals, and with a spend model the MAE and RMSE of the expected average spend among hold-out buyers and the predicted against actual value. The metrics are stored with the version (holdout_*, shown by mkt.models and mkt.model_report).';

COMMENT ON FUNCTION mkt.clv_report_svg(text) IS
'An SVG of the deployed customer value model: repeat purchases per period, actual beside expected, with the calibration end marked (the tracking plot), and customers by number of repeat purchases, actual beside the model''s (the frequency histogram). mkt.model_report shows it too.';
