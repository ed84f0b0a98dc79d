# Auto-offline through pg_cron, for real: the job_definitions row
# steppergo_drivers_auto_offline is handed to cron.schedule exactly as core's
# schedule_jobs() does (every minute); without anyone calling the
# function, an ONLINE driver whose last position is stale goes OFFLINE with a
# history row triggered_by system, while a driver with a fresh position stays
# ONLINE.  pg_cron fires at the next minute boundary: we wait up to 100 s.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('drivers_cron', dbname => 'drivers');
$node->safe_psql('drivers', 'CREATE EXTENSION pg_cron');

$node->safe_psql('drivers', q{
	INSERT INTO steppergo.users (email, phone, name, role) VALUES
	  ('stale@drivers.test', '+79020000101', 'Stale', 'DRIVER'),
	  ('fresh@drivers.test', '+79020000102', 'Fresh', 'DRIVER');
	INSERT INTO steppergo.drivers (user_id, status, availability)
	SELECT id, 'APPROVED', 'ONLINE' FROM steppergo.users WHERE email LIKE '%@drivers.test';
	INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, last_updated)
	SELECT d.id, 43.238, 76.889,
	       CASE WHEN u.email LIKE 'stale%' THEN now() - interval '10 minutes' ELSE now() END
	  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id;
});

# core's schedule_jobs() looks pg_cron up by its extension schema (public
# with pg_cron 1.4, whose functions live in schema cron), so register the row
# the same way it would, by name, with cron.schedule
$node->safe_psql('drivers', q{
	SELECT cron.schedule(name, schedule, command) FROM steppergo.job_definitions
	 WHERE name = 'steppergo_drivers_auto_offline'});
is($node->safe_psql('drivers',
	q{SELECT schedule || ' ' || command FROM cron.job WHERE jobname = 'steppergo_drivers_auto_offline'}),
	'* * * * * SELECT steppergo.auto_offline_stale_drivers()',
	'the job definition is registered with pg_cron');

# wait for pg_cron to run the job once (to completion)
my $ran = 0;
for (my $i = 0; $i < 100; $i++)
{
	$ran = $node->safe_psql('drivers', q{
		SELECT count(*) FROM cron.job_run_details r JOIN cron.job j ON j.jobid = r.jobid
		 WHERE j.jobname = 'steppergo_drivers_auto_offline' AND r.status IN ('succeeded', 'failed')});
	last if $ran > 0;
	sleep 1;
}
ok($ran > 0, 'pg_cron ran the auto-offline job');
is($node->safe_psql('drivers', q{
	SELECT string_agg(r.status || ' ' || coalesce(r.return_message, ''), '; ')
	  FROM cron.job_run_details r JOIN cron.job j ON j.jobid = r.jobid
	 WHERE j.jobname = 'steppergo_drivers_auto_offline'}),
	'succeeded SELECT 1', 'the job succeeded');

is($node->safe_psql('drivers', q{
	SELECT string_agg(u.name || ' ' || d.availability || ' ' || l.is_active, ', ' ORDER BY u.name)
	  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
	  JOIN steppergo.driver_locations l ON l.driver_id = d.id}),
	'Fresh ONLINE true, Stale OFFLINE false',
	'the stale driver went offline, the fresh one stayed online');
is($node->safe_psql('drivers', q{
	SELECT h.previous_status || '>' || h.new_status || ' ' || h.triggered_by || ' ' || h.change_reason
	  FROM steppergo.driver_availability_history h
	  JOIN steppergo.drivers d ON d.id = h.driver_id JOIN steppergo.users u ON u.id = d.user_id
	 WHERE u.name = 'Stale'}),
	'ONLINE>OFFLINE system no position for 300 s',
	'with a history row triggered_by system');

$node->stop;
done_testing();
