# The extension as a DBA meets it: CREATE EXTENSION ... CASCADE brings
# PostGIS, the extension works without pg_cron, and DROP EXTENSION leaves
# nothing behind.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

# A server without pg_cron preloaded: the extension still installs.
my $node = sg_node('nocron', no_cron => 1, extension => 0);

# Everything that exists before, so that we can tell what DROP leaves behind.
my $catalog_snapshot = q{
	SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	  SELECT 'class ' || c.relnamespace::regnamespace || '.' || relname FROM pg_class c
	    WHERE relnamespace::regnamespace::text NOT IN ('pg_toast', 'pg_catalog', 'information_schema')
	  UNION ALL SELECT 'proc ' || p.oid::regprocedure FROM pg_proc p
	    WHERE pronamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')
	  UNION ALL SELECT 'type ' || t.oid::regtype FROM pg_type t
	    WHERE typnamespace::regnamespace::text NOT IN ('pg_toast', 'pg_catalog', 'information_schema')
	  UNION ALL SELECT 'namespace ' || nspname FROM pg_namespace
	  UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger
	  UNION ALL SELECT 'event trigger ' || evtname FROM pg_event_trigger
	  UNION ALL SELECT 'role ' || rolname FROM pg_roles
	  UNION ALL SELECT 'policy ' || polname FROM pg_policy
	  UNION ALL SELECT 'cast ' || castsource::regtype || '->' || casttarget::regtype FROM pg_cast
	  UNION ALL SELECT 'operator ' || o.oid::regoperator FROM pg_operator o
	    WHERE oprnamespace::regnamespace::text <> 'pg_catalog'
	) s(x)};

$node->safe_psql('postgres', 'CREATE EXTENSION postgis');
my $before = $node->safe_psql('postgres', $catalog_snapshot);

$node->safe_psql('postgres', 'DROP EXTENSION postgis');
$node->safe_psql('postgres', 'CREATE EXTENSION steppergo CASCADE');
is($node->safe_psql('postgres',
	q{SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('postgis', 'steppergo', 'pg_cron')}),
	'postgis,steppergo', 'CREATE EXTENSION steppergo CASCADE installs PostGIS, without pg_cron');
is($node->safe_psql('postgres', q{SELECT extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'steppergo'}),
	'f|steppergo', 'not relocatable, in schema steppergo');

# A table in a schema of its own is refused by relocation attempts.
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION steppergo SET SCHEMA public');
isnt($rc, 0, 'the extension cannot be moved to another schema');

# Put some data in, then drop: nothing of the extension may remain.
$node->safe_psql('postgres', q{INSERT INTO steppergo.tenants (name) VALUES ('Drop me')});
$node->safe_psql('postgres', 'DROP EXTENSION steppergo');
# PostgreSQL creates the control file's schema but cannot make it a member of
# the extension that lives in it (a dependency loop), so DROP EXTENSION keeps
# the schema, empty.  Everything else must be gone.
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_class WHERE relnamespace = 'steppergo'::regnamespace}
	  . q{ UNION ALL SELECT count(*) FROM pg_proc WHERE pronamespace = 'steppergo'::regnamespace}
	  . q{ UNION ALL SELECT count(*) FROM pg_type WHERE typnamespace = 'steppergo'::regnamespace}),
	"0\n0\n0", 'DROP EXTENSION steppergo empties its schema');
my $after = $node->safe_psql('postgres', $catalog_snapshot);
my %before_set = map { $_ => 1 } split /\n/, $before;
is(join(',', grep { !$before_set{$_} } split /\n/, $after), 'namespace steppergo',
	'after DROP EXTENSION only the empty schema remains');
$node->safe_psql('postgres', 'DROP SCHEMA steppergo');
$after = $node->safe_psql('postgres', $catalog_snapshot);
is($after, $before, 'then DROP SCHEMA steppergo leaves nothing behind (PostGIS stays)');

# The one-command uninstall the README gives: DROP SCHEMA ... CASCADE.
$node->safe_psql('postgres', 'CREATE EXTENSION steppergo');
$node->safe_psql('postgres', q{INSERT INTO steppergo.tenants (name) VALUES ('Drop me too')});
$node->safe_psql('postgres', 'DROP SCHEMA steppergo CASCADE');
is($node->safe_psql('postgres', $catalog_snapshot), $before,
	'DROP SCHEMA steppergo CASCADE removes the extension and leaves nothing behind');

# And it can come back.
$node->safe_psql('postgres', 'CREATE EXTENSION steppergo');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.currencies WHERE builtin'), '18',
	'reinstall after drop brings the reference data back');
$node->stop;

# A server with pg_cron preloaded: pg_cron can sit beside it.
my $cron = sg_node('cron', extension => 0);
$cron->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$cron->safe_psql('postgres', 'CREATE EXTENSION steppergo CASCADE');
is($cron->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname IN ('postgis', 'steppergo', 'pg_cron')}),
	'3', 'steppergo installs beside pg_cron');
$cron->stop;

done_testing();
