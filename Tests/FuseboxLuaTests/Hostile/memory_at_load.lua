-- Grows by 10 KB a step, so that the memory ceiling comes long before the time
-- budget even under ThreadSanitizer (with 100-byte steps it did not, there).
local t = {}
for i = 1, 1e9 do t[i] = string.rep('x', 10000) .. i end
return {}
