# ALTER EXTENSION steppergo UPDATE from every released version yields the
# same catalog as a fresh install of the current version, and keeps the data.
#
# pg_dump --schema-only does not print an extension's member objects; with
# --binary-upgrade it does (that is how pg_upgrade carries extensions), so we
# compare those dumps, less the OID-preserving calls that differ by nature.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('upgrade', extension => 0);
my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'steppergo'});
my @old = split /\n/, $node->safe_psql('postgres',
	qq{SELECT version FROM pg_available_extension_versions
	    WHERE name = 'steppergo' AND version <> '$current' ORDER BY version});
ok(scalar(@old) >= 1, "there is at least one released version before $current (@old)");

sub schema_dump
{
	my ($db) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'pg_dump', '--schema-only', '--binary-upgrade', '--no-owner',
		'-d', $node->connstr($db) ], '>', \$stdout, '2>', \$stderr)
	  or die "pg_dump $db failed: $stderr";
	my @lines = grep {
		!/binary_upgrade_set_next_|binary_upgrade_set_record_init_privs|^-- Dumped|^--$|^$|^\\(un)?restrict /
	} split /\n/, $stdout;
	# the OIDs of an extension's configuration tables differ by nature
	s/(binary_upgrade_create_empty_extension\('[^']*', '[^']*', \w+, '[^']*', )'\{[0-9,]*\}'/$1'{oids}'/ for @lines;
	# member objects come out in dependency order, which may legitimately
	# differ; compare them as a set of statements
	# (and less the frozen-xid bookkeeping, which depends on when each
	# table was created)
	my @stmts = grep { !/relfrozenxid/ } split /;\n/, join("\n", @lines);
	return join(";\n", sort @stmts);
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION steppergo CASCADE');
my $fresh = schema_dump('fresh');
ok(length($fresh) > 10000, 'the fresh install dumps its members');

for my $v (@old)
{
	my $db = 'from_' . ($v =~ s/\W/_/gr);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION steppergo VERSION '$v' CASCADE");
	$node->safe_psql($db, q{INSERT INTO steppergo.tenants (name, platform_rate) VALUES ('Kept across upgrade', 0.12)});
	# a driver written under the old version: approved, online, a minivan, a
	# break, a position; from 0.3 on, the position row carries the driver's
	# dispatch state, computed by the update script (the driver number is
	# given, so that driver_number_seq stays as a fresh install has it)
	$node->safe_psql($db, q{
		INSERT INTO steppergo.users (email, phone, name, role)
		VALUES ('upgrade@drivers.test', '+79070000001', 'Upgrade Driver', 'DRIVER');
		INSERT INTO steppergo.drivers (user_id, driver_id, status, approval_status, availability)
		SELECT id, 'DRV-999999', 'APPROVED', 'APPROVED', 'ONLINE' FROM steppergo.users WHERE email = 'upgrade@drivers.test';
		INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate, passenger_capacity)
		SELECT d.id, 'Hyundai', 'Staria', 'UPG001', 7 FROM steppergo.drivers d
		  JOIN steppergo.users u ON u.id = d.user_id WHERE u.email = 'upgrade@drivers.test';
		INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time, schedule_type)
		SELECT d.id, now() + interval '1 day', now() + interval '1 day 1 hour', 'BREAK' FROM steppergo.drivers d
		  JOIN steppergo.users u ON u.id = d.user_id WHERE u.email = 'upgrade@drivers.test';
		INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude)
		SELECT d.id, 43.25, 76.95 FROM steppergo.drivers d
		  JOIN steppergo.users u ON u.id = d.user_id WHERE u.email = 'upgrade@drivers.test';
	});
	$node->safe_psql($db, 'ALTER EXTENSION steppergo UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'steppergo'}),
		$current, "$v updates to $current");
	my $upgraded = schema_dump($db);
	my $same = $upgraded eq $fresh;
	ok($same, "catalog after UPDATE from $v equals a fresh $current install");
	if (!$same)
	{
		my %f = map { $_ => 1 } split /;\n/, $fresh;
		my %u = map { $_ => 1 } split /;\n/, $upgraded;
		diag("only in fresh: $_") for grep { !$u{$_} } sort keys %f;
		diag("only in upgraded: $_") for grep { !$f{$_} } sort keys %u;
	}
	is($node->safe_psql($db, q{SELECT platform_rate FROM steppergo.tenants WHERE name = 'Kept across upgrade'}),
		'0.1200', "data written under $v survives the update");
	is($node->safe_psql($db, q{
		SELECT format('%s %s %s', l.dispatch_ready, l.dispatch_seats, l.dispatch_holds)
		  FROM steppergo.driver_locations l JOIN steppergo.drivers d ON d.id = l.driver_id
		  JOIN steppergo.users u ON u.id = d.user_id WHERE u.email = 'upgrade@drivers.test'}),
		't 7 1', "a driver written under $v has its dispatch state after the update");
	is($node->safe_psql($db, q{SELECT steppergo.refresh_dispatch_state()}),
		'0', "nothing to fix in the dispatch state after the update from $v");
}

done_testing();
