-- Without Citus, the setup says what it needs; a decision without a subject is fine here.
\set VERBOSITY default
SELECT * FROM mkt.citus_setup();
\set VERBOSITY terse
