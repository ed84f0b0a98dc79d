-- core: extension shape, UUIDv7 keys, validators, reference data
\set VERBOSITY terse
SELECT extname, extversion, extrelocatable, n.nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'steppergo';

-- UUIDv7: version and variant bits, strictly increasing within a session
WITH u AS (SELECT steppergo.uuid_generate_v7() AS id, g FROM generate_series(1, 10000) g)
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '7') AS wrong_version,
       count(*) FILTER (WHERE substr(id::text, 20, 1) NOT IN ('8','9','a','b')) AS wrong_variant,
       count(DISTINCT id) AS distinct_ids
  FROM u;
SELECT bool_and(a < b) AS increasing
  FROM (SELECT id AS a, lead(id) OVER (ORDER BY g) AS b
          FROM (SELECT steppergo.uuid_generate_v7() AS id, g FROM generate_series(1, 5000) g) s) t
 WHERE b IS NOT NULL;
SELECT abs(extract(epoch FROM steppergo.uuid_v7_time(steppergo.uuid_generate_v7()) - clock_timestamp())) < 1 AS time_roundtrip;
SELECT steppergo.uuid_v7_time('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') AS v4_has_no_time;
SELECT steppergo.uuid_v7_time('017f22e2-79b0-7cc3-98c4-dc0c0c07398f') AS rfc9562_example;

-- validators
SELECT tz, steppergo.is_valid_timezone(tz)
  FROM unnest(ARRAY['Asia/Almaty', 'UTC', 'Europe/London', 'Asia/Nowhere', 'UTC+5', '+05',
                    '<+05>-5', '', 'Asia/Almaty;drop', 'posixrules/../x']) tz;
SELECT p, steppergo.is_e164(p)
  FROM unnest(ARRAY['+77001234567', '77001234567', '+0123456789', '+7 700 123', '+1234567890123456']) p;
SELECT e, steppergo.is_email(e)
  FROM unnest(ARRAY['aigerim@example.kz', 'Aigerim@example.kz', 'no-at.example.kz', 'a@b', 'a@b.kz']) e;
SELECT steppergo.is_valid_lat('NaN'), steppergo.is_valid_lng('NaN'), steppergo.is_valid_lat(90.0), steppergo.is_valid_lng(-180.1);
SELECT ST_AsText(steppergo.geog_point(43.238, 76.889));

-- Almaty is UTC+5 since 2024-03-01 (a stale time-zone database fails here)
SELECT timestamptz '2024-06-01 12:00:00+00' AT TIME ZONE 'Asia/Almaty' AS almaty_summer_2024,
       timestamptz '2023-06-01 12:00:00+00' AT TIME ZONE 'Asia/Almaty' AS almaty_summer_2023;

-- reference data
SELECT code, minor_unit FROM steppergo.currencies WHERE code IN ('KZT', 'JPY', 'KWD') ORDER BY code;
INSERT INTO steppergo.currencies (code, name) VALUES ('kzt', 'lower case');   -- 23514
\echo :LAST_ERROR_SQLSTATE
INSERT INTO steppergo.tenants (name, timezone) VALUES ('Bad zone', 'Mars/Olympus'); -- 23514
\echo :LAST_ERROR_SQLSTATE
INSERT INTO steppergo.tenants (name, platform_rate) VALUES ('Greedy', 1.5);          -- 23514
\echo :LAST_ERROR_SQLSTATE
INSERT INTO steppergo.tenants (name, currency) VALUES ('No such money', 'XXQ');       -- 23503
\echo :LAST_ERROR_SQLSTATE
INSERT INTO steppergo.tenants (name) VALUES ('Almaty Tours') RETURNING name, platform_rate, currency, timezone;
INSERT INTO steppergo.tenants (name) VALUES ('Almaty Tours');                        -- 23505
\echo :LAST_ERROR_SQLSTATE

-- pg_cron jobs: every job of job_definitions is registered under its name,
-- twice is harmless, and unschedule_jobs removes them all (rolled back, so
-- that nothing runs during the other suites)
BEGIN;
SELECT steppergo.schedule_jobs();
SELECT steppergo.schedule_jobs();
SELECT count(*) = (SELECT count(*) FROM steppergo.job_definitions) AS all_registered,
       count(DISTINCT jobname) = count(*) AS once_each
  FROM cron.job WHERE jobname LIKE 'steppergo\_%';
SELECT j.name FROM steppergo.job_definitions j
  LEFT JOIN cron.job c ON c.jobname = j.name AND c.schedule = j.schedule AND c.command = j.command
 WHERE c.jobid IS NULL;
SELECT steppergo.unschedule_jobs();
SELECT count(*) AS left_behind FROM cron.job WHERE jobname LIKE 'steppergo\_%';
ROLLBACK;
