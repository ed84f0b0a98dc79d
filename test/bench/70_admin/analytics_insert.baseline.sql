-- Baseline: the bare INSERT of the same event into the partitioned table.
\set u random(1, :nadminusers)
INSERT INTO steppergo.analytics_events (event_name, user_id, metadata, session_id)
VALUES ('trip_search', (SELECT id FROM bench_admin_users WHERE n = :u), '{"from":"Almaty","to":"Kolsai","seats":2}',
        'bench-session-' || :client_id);
