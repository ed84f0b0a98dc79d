-- Baseline: the bare single-row UPDATE that counts an attempt on the active
-- code of a phone and returns what a comparison needs.
\set n random(1, :nphones)
UPDATE steppergo.otps SET attempts = attempts + 1
 WHERE phone = '+7901' || lpad(:n::text, 7, '0') AND NOT verified AND invalidated_at IS NULL
   AND expires_at > now() AND attempts < 2147483647
RETURNING id, code_hash;
