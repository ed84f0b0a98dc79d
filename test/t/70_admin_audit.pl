# The audit trail's hash chain: concurrent appenders (also under REPEATABLE
# READ) build one unbroken chain; a superuser's edit, insertion or deletion
# around the triggers is named by verify_audit_chain(); archiving per the
# README keeps the rest verifiable against the boundary hash; pg_dump and
# pg_restore keep the chain and the monthly analytics partitions.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('admin_audit');

# --- concurrent appends: 4 clients, READ COMMITTED and REPEATABLE READ
$node->safe_psql('postgres', q{
	INSERT INTO steppergo.users (email, phone, name, role)
	VALUES ('tap-admin@admin.test', '+79071000001', 'TAP Admin', 'ADMIN')});
$node->pgbench(
	'--no-vacuum --client=4 --transactions=40',
	0, [qr{processed: 160/160}], [qr{^$}],
	'concurrent audit appends',
	{
		'001_admin_rc' => q{
			SELECT steppergo.log_admin_action('TAP_RC', 'driver', :client_id::text, '{"k":1}');
		},
		'002_admin_rr' => q{
			BEGIN ISOLATION LEVEL REPEATABLE READ;
			SELECT count(*) FROM steppergo.admin_actions;
			SELECT steppergo.log_admin_action('TAP_RR', 'driver', :client_id::text, '{"k":2}');
			SELECT steppergo.log_admin_action('TAP_RR', 'driver', :client_id::text, '{"k":3}');
			COMMIT;
		}
	});
my $n = $node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.admin_actions');
ok($n >= 200, "at least 200 audit rows written concurrently ($n)");
is($node->safe_psql('postgres', 'SELECT max(seq) = count(*) AND min(seq) = 1 FROM steppergo.admin_actions'),
	't', 'seq runs 1..n without gaps');
is($node->safe_psql('postgres', 'SELECT valid, rows_checked FROM steppergo.verify_audit_chain()'),
	"t|$n", 'the chain built by concurrent appenders verifies');

# --- without the key nothing is appended
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET steppergo.audit_key = '';
	SELECT steppergo.log_admin_action('TAP_NOKEY', 'driver', 'x')});
like($err, qr/steppergo\.audit_key is not set/, 'an audit row needs the audit key');

# --- a superuser edits a row around the append-only trigger
my $edited = $node->safe_psql('postgres', q{SELECT id FROM steppergo.admin_actions WHERE seq = 50});
my $original = $node->safe_psql('postgres', q{SELECT details FROM steppergo.admin_actions WHERE seq = 50});
$node->safe_psql('postgres', qq{
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	UPDATE steppergo.admin_actions SET details = '{"k":"forged"}' WHERE id = '$edited';
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_append_only;});
is($node->safe_psql('postgres', q{SELECT valid, broken_seq, broken_id, problem FROM steppergo.verify_audit_chain()}),
	"f|50|$edited|row content does not match its hash (edited)", 'the edited row is named');
# recomputing the hash is no way out without the key
$node->safe_psql('postgres', qq{
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	UPDATE steppergo.admin_actions SET row_hash = sha256(convert_to(details::text, 'UTF8')) WHERE id = '$edited';
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_append_only;});
is($node->safe_psql('postgres', q{SELECT valid, broken_seq FROM steppergo.verify_audit_chain()}),
	'f|50', 'a row re-hashed without the key is still named');
# putting the original content back is the only way to mend it
$node->safe_psql('postgres', qq{
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	UPDATE steppergo.admin_actions SET details = '$original',
	       row_hash = (SELECT b.prev_hash FROM steppergo.admin_actions b WHERE b.seq = 51)
	 WHERE id = '$edited';
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_append_only;});
is($node->safe_psql('postgres', q{SELECT valid FROM steppergo.verify_audit_chain()}), 't',
	'restoring the original content makes the chain whole again');

# a row slipped in with the chain trigger disabled is outside the chain
$node->safe_psql('postgres', q{
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_chain;
	INSERT INTO steppergo.admin_actions (action_type, target_type, target_id) VALUES ('TAP_SNEAKY', 'driver', 'z');
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_chain;});
like($node->safe_psql('postgres', q{SELECT valid, problem FROM steppergo.verify_audit_chain()}),
	qr/^f\|row is outside the chain/, 'a row inserted around the chain trigger is named');
$node->safe_psql('postgres', q{
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	DELETE FROM steppergo.admin_actions WHERE action_type = 'TAP_SNEAKY';
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_append_only;});

# a row deleted from the middle leaves a gap, named at the next row
is($node->safe_psql('postgres', q{BEGIN;
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	DELETE FROM steppergo.admin_actions WHERE seq = 70;
	SELECT valid, broken_seq, problem FROM steppergo.verify_audit_chain();
	ROLLBACK;}), 'f|71|row 70 is missing before this one', 'a deleted row is named by the gap it leaves');

# --- archiving as the README describes: export through seq 100, keep the
# boundary hash, delete with the trigger disabled, verify against the anchor
my $archive = "$PostgreSQL::Test::Utils::tmp_check/audit_archive.csv";
my $boundary = $node->safe_psql('postgres', q{
	SELECT encode(row_hash, 'hex') FROM steppergo.admin_actions WHERE seq = 100});
$node->safe_psql('postgres', qq{
	BEGIN;
	SELECT pg_advisory_xact_lock(1937007984, 1635083369);
	COPY (SELECT * FROM steppergo.admin_actions WHERE seq <= 100 ORDER BY seq) TO '$archive' WITH (FORMAT csv, HEADER);
	ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
	DELETE FROM steppergo.admin_actions WHERE seq <= 100;
	ALTER TABLE steppergo.admin_actions ENABLE TRIGGER admin_actions_append_only;
	COMMIT;});
my $left = $n - 100;
is($node->safe_psql('postgres', qq{SELECT valid, rows_checked, first_seq FROM steppergo.verify_audit_chain('\\x$boundary')}),
	"t|$left|101", 'after archiving, the rest verifies against the boundary hash');
like($node->safe_psql('postgres', q{SELECT valid, problem FROM steppergo.verify_audit_chain(decode(repeat('ab', 32), 'hex'))}),
	qr/^f\|first row does not link to the given anchor/, 'a wrong anchor is refused');
$node->safe_psql('postgres', q{SELECT steppergo.log_admin_action('TAP_AFTER', 'driver', 'after')});
is($node->safe_psql('postgres', qq{SELECT valid, last_seq FROM steppergo.verify_audit_chain('\\x$boundary')}),
	't|' . ($n + 1), 'appending continues the chain after archiving');
# the archive verifies on its own: reloaded into a scratch copy of the table
is($node->safe_psql('postgres', qq{
	CREATE TEMP TABLE arch (LIKE steppergo.admin_actions);
	COPY arch FROM '$archive' WITH (FORMAT csv, HEADER);
	SELECT count(*) FILTER (WHERE a.row_hash = steppergo.admin_action_hash(
	         ROW(a.id, a.admin_id, a.action_type, a.target_type, a.target_id, a.details, a.ip_address,
	             a.user_agent, a.created_at, a.seq, a.prev_hash, a.row_hash)::steppergo.admin_actions)),
	       bool_and(a.seq = 1 OR a.prev_hash = (SELECT b.row_hash FROM arch b WHERE b.seq = a.seq - 1)),
	       encode((SELECT row_hash FROM arch WHERE seq = 100), 'hex') = '$boundary'
	  FROM arch a}), '100|t|t', 'the archived range verifies and ends on the boundary hash');

# --- pg_dump / pg_restore keep the chain and the monthly partitions' rows
$node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.maintain_analytics_partitions();
	SELECT steppergo.record_event('tap_event', '{"n":1}', 'tap') FROM generate_series(1, 25);
	INSERT INTO steppergo.analytics_events (id, event_name, session_id)
	VALUES (steppergo.uuid_v7_floor('2021-06-01 00:00+00'), 'tap_old', 'tap');});
my $before = $node->safe_psql('postgres', q{
	SELECT tableoid::regclass, count(*) FROM steppergo.analytics_events GROUP BY 1 ORDER BY tableoid::regclass::text});
like($before, qr/analytics_events_p\d{6}\|25/, 'events land in the monthly partition');
like($before, qr/analytics_events_default\|1/, 'an event outside every monthly partition lands in the default one');
my $dumpfile = "$PostgreSQL::Test::Utils::tmp_check/admin.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dumpfile ], 'pg_restore');
is($node->safe_psql('restored', q{
	SELECT tableoid::regclass, count(*) FROM steppergo.analytics_events GROUP BY 1 ORDER BY tableoid::regclass::text}),
	$before, 'the partitions and their rows are restored');
is($node->safe_psql('restored', qq{SELECT valid, rows_checked FROM steppergo.verify_audit_chain('\\x$boundary')}),
	"t|" . ($left + 1), 'the restored chain verifies');
$node->safe_psql('restored', q{SELECT steppergo.log_admin_action('TAP_RESTORED', 'driver', 'r')});
is($node->safe_psql('restored', qq{SELECT valid FROM steppergo.verify_audit_chain('\\x$boundary')}),
	't', 'appends continue the restored chain');
is($node->safe_psql('restored', q{SELECT count(*) FROM steppergo.maintain_analytics_partitions() WHERE action = 'created'}),
	'0', 'the partition job recognises the restored partitions');

done_testing();
