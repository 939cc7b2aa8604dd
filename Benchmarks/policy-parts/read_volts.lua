-- Reads c.volts of every charger ten times a cycle (docs/performance.md):
-- read_id.lua against read_volts.lua is a table lookup (a static field,
-- through __index) against a call into C (a field of the details block).
return { name = "read_volts", allocate = function(site)
  local chargers, x = site.chargers, nil
  for _ = 1, 10 do for k = 1, #chargers do x = chargers[k].volts end end
  return {}
end }
