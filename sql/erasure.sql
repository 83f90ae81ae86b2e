-- Erasure: documentation of mkt.forget_subject (src/erasure/api.rs).

COMMENT ON FUNCTION mkt.forget_subject(text) IS
'GDPR-style erasure of one customer: deletes their decisions, campaign touches, outbox messages and attributions, and removes them from every stored model version (their id, seen items and vector; a customer value model''s summary row), so recommendations for them are those of a new user and everyone else''s stay the same. Returns what was removed. What everyone''s data shaped together (item factors, item-item weights, popularity, a customer value model''s parameters and tracking counts) keeps the customer''s influence until the next retrain, and the source tables are yours to clean.';
