-- One login with libsodium's interactive argon2id limits (opslimit 2,
-- memlimit 64 MiB): slow on purpose.  Time per login = 1000 / TPS ms
-- (1 client); no baseline.
SELECT steppergo.login('bench.login@identity.test', 'bench correct horse') IS NOT NULL;
