//! What a background job may run: one SELECT of one long mkt function.

/// Functions a job may call: the ones that take long enough to want a worker.
pub const ALLOWED: [&str; 22] = [
    "train_recommender",
    "retrain",
    "tune_recommender",
    "evaluate_recommender",
    "train_policy",
    "evaluate_policy",
    "estimate_policy_value",
    "simulate_campaign",
    "profile",
    "clean",
    "fit_transform",
    "apply_transform",
    "rfm",
    "user_features",
    "split",
    "train_clv",
    "evaluate_clv",
    "train_predictor",
    "evaluate_predictor",
    "train_uplift",
    "evaluate_uplift",
    "decide_all",
];

/// The mkt function a command calls, if it is one plain `SELECT ... FROM mkt.f(...)` or
/// `SELECT mkt.f(...)` of an allowed function. (The SQL layer also parses it as one SELECT.)
pub fn called_function(command: &str) -> Option<&'static str> {
    let lower = command.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("select")?;
    let at = rest.find("mkt.")?;
    let before = rest[..at].trim();
    if !(before.is_empty() || before == "*" || before.ends_with("from")) {
        return None;
    }
    let name: String = rest[at + 4..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !rest[at + 4 + name.len()..].trim_start().starts_with('(') {
        return None;
    }
    ALLOWED.iter().find(|a| **a == name).copied()
}

/// The error message for a command that is not an allowed call.
pub fn refusal(command: &str) -> String {
    format!(
        "a job must be one SELECT of one of the functions mkt.{}; got: {command}",
        ALLOWED.join(", mkt.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_call_of_an_allowed_function_is_a_job() {
        assert_eq!(called_function("SELECT * FROM mkt.train_recommender('m', 't')"), Some("train_recommender"));
        assert_eq!(called_function("  select mkt.retrain ('m')"), Some("retrain"));
        assert_eq!(called_function("SELECT mkt.recommend('m', 1)"), None);
        assert_eq!(called_function("SELECT x, mkt.profile('t')"), None);
        assert_eq!(called_function("DELETE FROM t; SELECT mkt.profile('t')"), None);
        assert_eq!(called_function("SELECT mkt.profile"), None);
        assert!(refusal("x").starts_with("a job must be one SELECT of one of the functions mkt.train_recommender, mkt.retrain"));
    }
}
