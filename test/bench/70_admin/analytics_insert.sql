-- One analytics event through record_event (a trusted backend's call: the
-- user is named, no request headers).
\set u random(1, :nadminusers)
SELECT steppergo.record_event('trip_search', '{"from":"Almaty","to":"Kolsai","seats":2}', 'bench-session-' || :client_id,
                              (SELECT id FROM bench_admin_users WHERE n = :u));
