# pg_dump keeps the data: fill every table of the extension (the demo data
# set, at a small scale), dump, restore into a fresh cluster, and compare the
# row count and a checksum of every table.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $src = sg_node('dump_src');
my ($stdout, $stderr);
IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'scale=0.02',
	'-d', $src->connstr('postgres'), '-f', "$ENV{TESTDIR}/test/demo/demo.sql" ],
	'>', \$stdout, '2>', \$stderr)
  or die "demo load failed: $stderr";

# Every table of the extension is registered for pg_dump ...
my $tables = $src->safe_psql('postgres', q{
	SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname)
	  FROM pg_class c
	  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'steppergo'
	 WHERE c.relkind IN ('r', 'p')});
my @tables = split / /, $tables;
ok(scalar(@tables) >= 32, scalar(@tables) . ' tables belong to the extension');
my $unregistered = $src->safe_psql('postgres', q{
	SELECT coalesce(string_agg(c.oid::regclass::text, ', '), '')
	  FROM pg_class c
	  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'steppergo'
	 WHERE c.relkind = 'r' AND NOT c.relispartition AND c.oid <> ALL (e.extconfig)
	   AND c.relname NOT IN ('job_definitions', 'api_functions', 'api_tables')});
is($unregistered, '', 'every table is registered with pg_extension_config_dump');

# ... but the registries the extension's own scripts fill (its pg_cron jobs,
# its API surface), which are not user data.
@tables = grep { !/^steppergo\.(job_definitions|api_functions|api_tables)$/ } @tables;

# The demo data fills every one of them.
my %before;
for my $t (@tables)
{
	$before{$t} = $src->safe_psql('postgres',
		"SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $t x");
	my ($n) = split / /, $before{$t};
	ok($n > 0, "$t has rows before the dump ($n)");
}

my $dumpfile = "$PostgreSQL::Test::Utils::tmp_check/steppergo.dump";
IPC::Run::run([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $src->connstr('postgres') ],
	'2>', \$stderr) or die "pg_dump failed: $stderr";

my $dst = sg_node('dump_dst', extension => 0);
$dst->safe_psql('postgres', 'CREATE DATABASE restored');
IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $dst->connstr('restored'), $dumpfile ],
	'2>', \$stderr) or die "pg_restore failed: $stderr";

for my $t (@tables)
{
	my $after = $dst->safe_psql('restored',
		"SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM $t x");
	is($after, $before{$t}, "$t: same rows and checksum after restore");
}

done_testing();
