-- steppergo: the StepperGO marketplace inside PostgreSQL.
-- This script is assembled by the Makefile from the per-domain sources under
-- src/; edit those, never the built file.
\echo Use "CREATE EXTENSION steppergo CASCADE" to load this file. \quit

-- While this script runs, search_path is "steppergo, <schema of postgis>".
-- Append pg_temp so that every function declared with
-- "SET search_path FROM CURRENT" resolves names in steppergo, then PostGIS,
-- and never in a caller's temporary schema.
SELECT pg_catalog.set_config('search_path',
       pg_catalog.current_setting('search_path') || ', pg_temp', true);
