-- Example calls of the admin domain (after the demo data is loaded).
\pset footer off
\echo '-- The audit trail''s hash chain verifies (a superuser edit around the trigger would be named here)'
SELECT valid, rows_checked, first_seq, last_seq, broken_seq, problem FROM steppergo.verify_audit_chain();

\echo '-- Monthly analytics partitions (created ahead by the daily job) and where the events are'
SELECT action, partition_name FROM steppergo.maintain_analytics_partitions();
SELECT tableoid::regclass AS partition, count(*) FROM steppergo.analytics_events GROUP BY 1 ORDER BY tableoid::regclass::text;

\echo '-- Daily rollup per tenant: trips, bookings, GMV and platform revenue (last 7 local days with data)'
SELECT steppergo.refresh_daily_metrics();
SELECT day, coalesce(t.name, 'platform') AS tenant, m.currency, m.trips, m.trips_completed, m.bookings, m.gmv, m.platform_revenue
  FROM steppergo.daily_metrics m LEFT JOIN steppergo.tenants t ON t.id = m.tenant_id
 WHERE m.bookings > 0
 ORDER BY day DESC, tenant LIMIT 7;

\echo '-- The notification outbox by channel and status'
SELECT channel, status, count(*) FROM steppergo.notifications GROUP BY 1, 2 ORDER BY 1, 2;

\echo '-- Drivers whose mandatory documents are all verified and unexpired'
SELECT count(*) FILTER (WHERE steppergo.driver_documents_complete(d.id)) AS complete, count(*) AS drivers
  FROM steppergo.drivers d;

\echo '-- Webhook events not applied yet'
SELECT state, count(*) FROM steppergo.webhook_log_problems GROUP BY 1 ORDER BY 1;
