-- fusebox.record_switches once per cycle, beside record_switches_x10.lua
-- (docs/performance.md): the difference is nine calls.
return { name = "record_switches_x1", allocate = function(site)
  local given, chargers = {}, site.chargers
  for i = 1, #chargers, 2 do given[chargers[i].id] = (i % 4 == 1) and 8 or 0 end
  fusebox.record_switches(site, site.memory, given)
  return {}
end }
