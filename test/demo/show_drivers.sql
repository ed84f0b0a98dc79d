-- drivers: example calls (run by test/demo/run on the demo data)
\pset footer off
\echo '-- drivers: why a PENDING driver cannot be approved yet (missing verified documents)'
SELECT d.driver_id, u.name, steppergo.driver_missing_documents(d.id) AS missing
  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
 WHERE d.status = 'PENDING' ORDER BY d.driver_id LIMIT 3;

\echo '-- drivers: a gateway batch of three drivers'' pings: rows written'
SELECT steppergo.update_driver_locations(jsonb_agg(jsonb_build_object(
         'driver_id', id, 'lat', 43.2389 + n / 1000.0, 'lng', 76.8897 + n / 1000.0,
         'heading', 90, 'speed', 8.3, 'accuracy', 5)))
  FROM (SELECT d.id, row_number() OVER (ORDER BY d.driver_id) AS n
          FROM steppergo.drivers d WHERE d.status = 'APPROVED' ORDER BY d.driver_id LIMIT 3) s;

\echo '-- drivers: a batch with an impossible element is refused as a whole, naming it'
DO $$
DECLARE
  det text;
BEGIN
  PERFORM steppergo.update_driver_locations(jsonb_build_array(
    jsonb_build_object('driver_id', (SELECT id FROM steppergo.drivers ORDER BY driver_id LIMIT 1), 'lat', 43.25, 'lng', 76.9),
    jsonb_build_object('driver_id', (SELECT id FROM steppergo.drivers ORDER BY driver_id LIMIT 1), 'lat', 143.25, 'lng', 76.9)));
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
  RAISE NOTICE '%: % (%)', SQLSTATE, SQLERRM, det;
END $$;

\echo '-- drivers: auto-offline (the pg_cron job steppergo_drivers_auto_offline), drivers set OFFLINE now'
SELECT steppergo.auto_offline_stale_drivers() AS went_offline;
SELECT triggered_by, new_status, count(*) FROM steppergo.driver_availability_history
 WHERE changed_at > now() - interval '1 minute' GROUP BY 1, 2 ORDER BY 1, 2;
