# The acceptance-timeout job runs by itself: pg_cron fires
# steppergo_dispatch_timeouts, the worker keeps checking inside its minute,
# and an unanswered offer moves to the next driver, then back to the
# organizer, without anyone calling process_acceptance_timeouts by hand.
# Also: two runs never overlap (advisory lock), and the driver hears of the
# offer on the channel steppergo_dispatch.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('dispatch_cron');
$node->append_conf('postgresql.conf', q{
steppergo.dispatch_acceptance_timeout = 5
steppergo.dispatch_job_interval = 1
});
$node->reload;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');

# organizer, drivers a (100 m) and b (300 m), one trip
$node->safe_psql('postgres', q{
SET search_path = steppergo, public;
INSERT INTO users (email, phone, name, role) VALUES ('cron.org@dispatch.test', '+79097000000', 'Organizer', 'PASSENGER');
INSERT INTO users (email, phone, name, role)
SELECT 'cron.' || n || '@dispatch.test', '+790970000' || i, 'Driver ' || n, 'DRIVER'
  FROM unnest(ARRAY['a', 'b']) WITH ORDINALITY x(n, i);
INSERT INTO drivers (user_id, status, approval_status, availability)
SELECT id, 'APPROVED', 'APPROVED', 'ONLINE' FROM users WHERE email ~ '^cron\.[ab]@';
INSERT INTO vehicles (driver_id, make, model, license_plate)
SELECT d.id, 'Toyota', 'Camry', 'CRON-' || split_part(split_part(u.email, '@', 1), '.', 2) FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email ~ '^cron\.[ab]@';
-- positions an hour fresh: the test may wait for pg_cron's next minute
ALTER DATABASE postgres SET steppergo.dispatch_position_max_age = '1h';
INSERT INTO driver_locations (driver_id, latitude, longitude)
SELECT d.id, 47.0 + CASE u.email WHEN 'cron.a@dispatch.test' THEN 100 ELSE 300 END / 111132.0, 66.0
  FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email ~ '^cron\.[ab]@';
INSERT INTO trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                   total_seats, status, trip_type, base_price)
SELECT 'Cron trip', id, now() + interval '1 day', 'Origin', 47.0, 66.0, 'Dest', 47.1, 66.1, 2, 'PUBLISHED', 'PRIVATE', 1000
  FROM users WHERE email = 'cron.org@dispatch.test';
});

my $label = q{(SELECT split_part(split_part(u.email, '@', 1), '.', 2) FROM steppergo.drivers d
                JOIN steppergo.users u ON u.id = d.user_id WHERE d.id = %s)};
my $offered_to = sprintf($label, 't.offered_to_driver_id');

# driver b's app listens
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN steppergo_dispatch');

$node->safe_psql('postgres', "SELECT steppergo.offer_trip(t.id) FROM steppergo.trips t WHERE t.title = 'Cron trip'");
is($node->safe_psql('postgres', "SELECT $offered_to FROM steppergo.trips t WHERE t.title = 'Cron trip'"),
	'a', 'the trip is offered to the nearest driver, a');

# the extension's own registration: every job of job_definitions
$node->safe_psql('postgres', q{SELECT steppergo.schedule_jobs()});
is($node->safe_psql('postgres',
	q{SELECT schedule || ' ' || command FROM cron.job WHERE jobname = 'steppergo_dispatch_timeouts'}),
	'* * * * * CALL steppergo.dispatch_timeout_worker()', 'the job is registered with pg_cron');

# a's offer lapses after 5 s; pg_cron starts the worker at the next minute
ok($node->poll_query_until('postgres',
	"SELECT $offered_to = 'b' FROM steppergo.trips t WHERE t.title = 'Cron trip'"),
	'without any manual call, the unanswered offer moved on to driver b');

# while that run is still working, a second run returns at once
my $t0 = time;
$node->safe_psql('postgres', 'CALL steppergo.dispatch_timeout_worker()');
cmp_ok(time - $t0, '<=', 3, 'a run that finds another still working returns at once (advisory lock)');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1397180243 AND objid = 4 AND granted}),
	'1', 'the running worker holds the advisory lock');

# b does not answer either: nobody is left, the trip is PUBLISHED again and
# the organizer is told, still within the same run of the job
ok($node->poll_query_until('postgres',
	q{SELECT status = 'PUBLISHED' AND offered_to_driver_id IS NULL FROM steppergo.trips WHERE title = 'Cron trip'}),
	'after b timed out too, the trip is PUBLISHED again');
is($node->safe_psql('postgres', q{
	SELECT string_agg(split_part(split_part(u.email, '@', 1), '.', 2) || ' ' || a.action, ', ' ORDER BY a.created_at, a.id)
	  FROM steppergo.trip_acceptance_logs a JOIN steppergo.drivers d ON d.id = a.driver_id
	  JOIN steppergo.users u ON u.id = d.user_id}),
	'a OFFERED, a TIMEOUT, b OFFERED, b TIMEOUT', 'the acceptance log tells the whole story');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.notifications n JOIN steppergo.users u ON u.id = n.user_id
	 WHERE u.email = 'cron.org@dispatch.test' AND n.type = 'TRIP_NO_DRIVER'}),
	'1', 'the organizer got a TRIP_NO_DRIVER notification');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM cron.job_run_details r JOIN cron.job j USING (jobid)
	 WHERE j.jobname = 'steppergo_dispatch_timeouts'}), 'pg_cron recorded the run');

# what the listener heard: offers to a and b (with deadline) and the organizer's news
my $heard = $listener->query_safe('SELECT 1');
like($heard, qr/"event": "TRIP_OFFERED".*"timeout_seconds": 5/, 'the driver app heard a TRIP_OFFERED with its deadline');
my $b_user = $node->safe_psql('postgres', q{SELECT id FROM steppergo.users WHERE email = 'cron.b@dispatch.test'});
like($heard, qr/"user_id": "$b_user"/, 'driver b was notified of the offer made by the job');
like($heard, qr/"event": "TRIP_NO_DRIVER"/, 'the organizer was notified when nobody was left');
$listener->quit;

$node->safe_psql('postgres', q{SELECT cron.unschedule('steppergo_dispatch_timeouts')});
$node->stop;
done_testing();
