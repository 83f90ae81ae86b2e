-- Data preparation: documentation of its functions (src/prep/api.rs) and the conversions
-- mkt.clean's coerce uses.

COMMENT ON FUNCTION mkt.demo_data(int) IS
'Creates (or replaces) the synthetic shop in schema mkt_demo: users, items, events (view/cart/purchase) with power-law popularity, attribute-driven tastes and drift. scale 1 is about 100k events; deterministic.';

COMMENT ON FUNCTION mkt.split(text, text, text, text, float8, text, text, int) IS
'Splits a source per user into two new tables. method: random (seeded), temporal (last test_fraction of each user''s rows by time_col) or leave_last_out. Each user keeps at least one training row.';

COMMENT ON FUNCTION mkt.profile(text) IS
'Per column of a table, view or SELECT: type, rows, NULLs, distinct values, min, max; for numeric columns mean, sample stddev, quartiles and IQR outliers (beyond 1.5 IQR); the five most frequent values (NULL for mostly distinct columns). Three scans per 40 columns, each within mkt.max_memory_mb.';

COMMENT ON FUNCTION mkt.fit_transform(text, text, jsonb, text, bool) IS
'Fits per-column transforms on a source and stores their statistics under transform_name: standard, min_max, robust, log1p, one_hot (max_categories), hash (buckets), quantile_bucket (n), target_encode (label, smoothing). With target, writes the source plus the output columns to a new table (replace => true overwrites). Returns each column''s output columns.';

COMMENT ON FUNCTION mkt.apply_transform(text, text, text, bool) IS
'Applies a stored transform''s statistics (never refitting) to a source, writing source columns plus outputs to a new table; unseen categories get zeros (one_hot) or the global mean (target_encode). Returns the row count.';

COMMENT ON FUNCTION mkt.rfm(text, text, text, text, text, timestamptz, int, bool) IS
'Recency (days before as_of), frequency and monetary value per customer, their quantile scores (1 worst .. quantiles best), the RFM cell and a named segment (champions, loyal, potential loyalists, new, need attention, at risk, cannot lose them, hibernating), written to a new table. Returns the number of customers.';

COMMENT ON FUNCTION mkt.user_features(text, text, text, text, text, text, text, timestamptz, bool) IS
'Per-user activity features from an event table, written to a new table: events, first and last seen, recency in days, active days, a count per event type (n_<type>), distinct items and diversity, total and average value. Returns the number of users.';

-- Conversions for mkt.clean's coerce: NULL instead of an error for text that does not parse. One
-- function per type (mkt-prep's clean::COERCIONS), so a cast is planned once per statement.
DO $try$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['numeric', 'bigint', 'float8', 'date', 'timestamptz', 'boolean'] LOOP
        EXECUTE format('CREATE FUNCTION mkt.try_%1$s(v text) RETURNS %1$s LANGUAGE plpgsql STABLE PARALLEL SAFE AS %2$L',
            t, E'\nBEGIN\n    RETURN v::' || t || E';\nEXCEPTION WHEN data_exception THEN\n    RETURN NULL;\nEND ');
        EXECUTE format('COMMENT ON FUNCTION mkt.try_%1$s(text) IS %2$L', t,
            format('v as %s, or NULL when it does not parse (used by mkt.clean''s coerce).', t));
    END LOOP;
END
$try$;

COMMENT ON FUNCTION mkt.clean(text, text, jsonb, bool) IS
'Writes a cleaned copy of a source to a new table (the source is never modified) and reports each step''s rows: coerce (text to numeric, bigint, float8, date, timestamptz, boolean; failures become NULL and are counted), dedupe_on with keep first|last by order_by, bots (subjects with more than max_events_per_day events on a day), nulls per column (drop, mean, median, mode or a constant), outliers per column (method iqr with k, zscore with k, quantile with low/high; action clip, drop or flag).';
