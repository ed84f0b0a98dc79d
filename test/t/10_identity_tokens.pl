# Identity seen from outside PostgreSQL: an access token from login verifies
# with an independent JWT implementation (python3-jwt, the same secret that
# PostgREST's jwt-secret holds), a stored password hash with an independent
# argon2 implementation (python3-argon2); the secrets stay hidden from
# non-superusers; the flow works through the security domain's API roles;
# an unknown identifier costs what a wrong password costs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('identity');
my $secret = 'test-secret-0123456789abcdef0123456789abcdef';    # test/postgresql.conf

# a python3 one-liner with its inputs in the environment; returns stdout
sub py
{
	my ($code, %env) = @_;
	local @ENV{ keys %env } = values %env;
	my ($out, $err);
	IPC::Run::run([ 'python3', '-c', $code ], '>', \$out, '2>', \$err)
	  or return "FAILED: $err";
	chomp $out;
	return $out;
}

# default (interactive) argon2id limits here: the hash python checks is the
# production one
my $uid = $node->safe_psql('postgres',
	q{SELECT steppergo.register_user('tap@identity.test', '+79010000401', 'Tap User', 'correct horse tap')});
like($uid, qr/^[0-9a-f-]{36}$/, 'registered');

my $reply = $node->safe_psql('postgres',
	q{SELECT steppergo.login('tap@identity.test', 'correct horse tap')});
my ($token) = $reply =~ /"access_token": "([^"]+)"/;
ok($token, 'login returned an access token');

# python3-jwt verifies signature, exp and iat, and we check the claims
my $claims = py(<<'PY', TOKEN => $token, SECRET => $secret);
import json, os, jwt
c = jwt.decode(os.environ["TOKEN"], os.environ["SECRET"], algorithms=["HS256"])
h = jwt.get_unverified_header(os.environ["TOKEN"])
print(json.dumps({"alg": h["alg"], "typ": h["typ"], "sub": c["sub"], "role": c["role"],
                  "app_role": c["app_role"], "has_sid": bool(c.get("sid")),
                  "lifetime": c["exp"] - c["iat"]}, sort_keys=True))
PY
is($claims,
	qq({"alg": "HS256", "app_role": "PASSENGER", "has_sid": true, "lifetime": 900, "role": "authenticated", "sub": "$uid", "typ": "JWT"}),
	'python3-jwt verifies the access token and reads its claims');

my $forged = py(<<'PY', TOKEN => $token, SECRET => $secret . 'x');
import os, jwt
try:
    jwt.decode(os.environ["TOKEN"], os.environ["SECRET"], algorithms=["HS256"])
    print("accepted")
except jwt.InvalidSignatureError:
    print("rejected")
PY
is($forged, 'rejected', 'python3-jwt rejects the token under another secret');

# the stored hash: argon2id with libsodium's interactive limits, verified by argon2-cffi
my $hash = $node->safe_psql('postgres',
	q{SELECT password_hash FROM steppergo.users WHERE email = 'tap@identity.test'});
like($hash, qr/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/, 'argon2id with the interactive limits');
my $verified = py(<<'PY', HASH => $hash);
import os, argon2
ph = argon2.PasswordHasher()
ok = ph.verify(os.environ["HASH"], "correct horse tap")
try:
    ph.verify(os.environ["HASH"], "wrong horse tap")
    wrong = "accepted"
except argon2.exceptions.VerifyMismatchError:
    wrong = "rejected"
print(ok, wrong)
PY
is($verified, 'True rejected', 'python3-argon2 verifies the stored hash and rejects a wrong password');

# a hash written by argon2-cffi logs in through libsodium
my $foreign = py(<<'PY');
import argon2
print(argon2.PasswordHasher(time_cost=2, memory_cost=65536, parallelism=1).hash("foreign horse"))
PY
$node->safe_psql('postgres',
	"UPDATE steppergo.users SET password_hash = '$foreign' WHERE email = 'tap\@identity.test'");
like($node->safe_psql('postgres', q{SELECT steppergo.login('tap@identity.test', 'foreign horse') ->> 'role'}),
	qr/^PASSENGER$/, 'a hash made by argon2-cffi verifies in login');

# secrets: not readable by a non-superuser, through any door
$node->safe_psql('postgres', q{CREATE ROLE tap_plain LOGIN; GRANT USAGE ON SCHEMA steppergo TO tap_plain});
for my $q (q{SELECT current_setting('steppergo.jwt_secret')},
	q{SELECT current_setting('steppergo.otp_key')},
	q{SHOW steppergo.jwt_secret},
	q{SELECT setting FROM pg_file_settings WHERE name = 'steppergo.jwt_secret'})
{
	my ($rc, $out, $err) = $node->psql('postgres', $q, extra_params => [ '-U', 'tap_plain' ]);
	ok($rc != 0 && $out !~ /test-/ && $err =~ /permission denied|must be superuser/, "non-superuser refused: $q");
}
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_settings WHERE name IN ('steppergo.jwt_secret', 'steppergo.otp_key')},
		extra_params => [ '-U', 'tap_plain' ]),
	'0', 'the secrets do not appear in pg_settings for a non-superuser');
my ($rc, $out, $err) = $node->psql('postgres', q{SET steppergo.jwt_secret = 'mine-mine-mine-mine-mine-mine-mine-mine'},
	extra_params => [ '-U', 'tap_plain' ]);
isnt($rc, 0, 'a non-superuser cannot set the secret');
# and no table holds them
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (
	  SELECT row_to_json(x)::text AS j FROM steppergo.users x UNION ALL
	  SELECT row_to_json(x)::text FROM steppergo.sessions x UNION ALL
	  SELECT row_to_json(x)::text FROM steppergo.refresh_tokens x UNION ALL
	  SELECT row_to_json(x)::text FROM steppergo.otps x) s
	 WHERE j LIKE '%test-secret%' OR j LIKE '%test-otp-key%'}), '0', 'no identity row contains a secret');

# through the API roles of the security domain, as PostgREST calls: anon
# registers and logs in, the token passes pre_request, logout ends it
$node->safe_psql('postgres', 'SELECT steppergo.setup_api_roles()');
my $flow = $node->safe_psql('postgres', q{
BEGIN; SET LOCAL ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) \g /dev/null
SELECT steppergo.register_user('api@identity.test', '+79010000402', 'Api User', 'correct horse api') IS NOT NULL;
SELECT steppergo.login('api@identity.test', 'correct horse api') AS reply \gset
ROLLBACK;
});
like($flow, qr/^t$/m, 'anon registers through the API role');
is($node->safe_psql('postgres', q{SELECT count(*) FROM steppergo.users WHERE email = 'api@identity.test'}), '0',
	'the rolled-back registration left nothing');
my ($rc2, $out2, $err2) = $node->psql('postgres', q{
SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false) \g /dev/null
SELECT steppergo.jwt_sign_hs256('x', 'y');
});
like($err2, qr/permission denied for function jwt_sign_hs256/, 'the internal signer is not part of the API');

my $reply2 = $node->safe_psql('postgres', q{
SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false) \g /dev/null
SELECT steppergo.register_user('api@identity.test', '+79010000402', 'Api User', 'correct horse api') IS NOT NULL \g /dev/null
SELECT steppergo.login('api@identity.test', 'correct horse api');
});
my ($rtok) = $reply2 =~ /"refresh_token": "([^"]+)"/;
my ($atok) = $reply2 =~ /"access_token": "([^"]+)"/;
my $claims_json = py(<<'PY', TOKEN => $atok, SECRET => $secret);
import json, os, jwt
print(json.dumps(jwt.decode(os.environ["TOKEN"], os.environ["SECRET"], algorithms=["HS256"])))
PY
(my $claims_sql = $claims_json) =~ s/'/''/g;
my $as_user = qq{SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '$claims_sql', false) \\g /dev/null
SELECT steppergo.pre_request() \\g /dev/null
SELECT steppergo.current_app_role();};
is($node->safe_psql('postgres', $as_user), 'PASSENGER', 'the token passes pre_request and speaks for the user');
$node->safe_psql('postgres', qq{SET ROLE anon;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', false) \\g /dev/null
SELECT steppergo.logout('$rtok');});
my ($rc3, $out3, $err3) = $node->psql('postgres', $as_user);
like($err3, qr/session has ended/, 'after logout pre_request refuses the access token');

# one login's time, and an unknown identifier costs the same (5 each,
# medians). Timed inside the server, alternating the two, so that the load of
# the machine falls on both alike (process start-up is not measured).
my ($known, $unknown) = split /\|/, $node->safe_psql('postgres', q{
CREATE FUNCTION pg_temp.login_ms(identifier text) RETURNS float8 LANGUAGE plpgsql AS $f$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  BEGIN
    PERFORM steppergo.login(identifier, 'wrong horse tap');
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $f$;
WITH t AS (SELECT g % 2 = 0 AS known,
                  pg_temp.login_ms(CASE WHEN g % 2 = 0 THEN 'tap@identity.test' ELSE 'nobody@identity.test' END) AS ms
             FROM generate_series(1, 10) g)
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE known),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE NOT known)
  FROM t;});
note(sprintf('login with a wrong password: %.0f ms; with an unknown identifier: %.0f ms (server side)', $known, $unknown));
my $ratio = $unknown / $known;
ok($ratio > 0.5 && $ratio < 2, sprintf('unknown identifier and wrong password cost alike (ratio %.2f)', $ratio));

done_testing();
