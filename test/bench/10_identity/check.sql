-- Invariants after the run, one row per violation:
-- every live session has exactly one unspent, unrevoked refresh token
SELECT 'session ' || session_id || ' has ' || count(*) FILTER (WHERE used_at IS NULL AND NOT revoked) || ' live tokens'
  FROM steppergo.refresh_tokens
 GROUP BY session_id
HAVING count(*) FILTER (WHERE used_at IS NULL AND NOT revoked) <> 1;
-- at most one active code per phone, and every stored hash is 32 bytes
SELECT 'phone ' || phone || ' has ' || count(*) || ' active codes'
  FROM steppergo.otps WHERE NOT verified AND invalidated_at IS NULL
 GROUP BY phone HAVING count(*) > 1;
SELECT 'otp ' || id || ' has a hash of ' || length(code_hash) || ' bytes'
  FROM steppergo.otps WHERE length(code_hash) <> 32;
