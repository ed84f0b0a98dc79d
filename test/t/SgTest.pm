# Helpers shared by the TAP tests in test/t.
package SgTest;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Exporter 'import';

our @EXPORT = qw(sg_node sg_conf);

# The settings of test/postgresql.conf, with pg_cron pointed at DBNAME.
sub sg_conf
{
	my ($dbname) = @_;
	my $conf = slurp_file($ENV{TEST_CONF});
	$conf =~ s/^cron\.database_name\s*=.*$/cron.database_name = '$dbname'/m;
	return $conf;
}

# A started cluster with the project's settings; %opts:
#   dbname    database pg_cron runs in (default postgres)
#   no_cron   leave pg_cron out of shared_preload_libraries
#   extension create steppergo (CASCADE) in dbname (default 1)
sub sg_node
{
	my ($name, %opts) = @_;
	my $dbname = $opts{dbname} // 'postgres';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = sg_conf($dbname);
	$conf =~ s/'pg_cron,steppergo'/'steppergo'/ if $opts{no_cron};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $dbname")
	  if $dbname ne 'postgres';
	$node->safe_psql($dbname, 'CREATE EXTENSION steppergo CASCADE')
	  if $opts{extension} // 1;
	return $node;
}

1;
