-- What the sandbox's count hook costs the Lua VM (docs/performance.md):
-- a table-heavy loop like a policy's bookkeeping, timed without a hook and
-- with debug.sethook(f, "", 1000), in alternating rounds. With any count hook
-- the VM stops at every instruction. Run: lua5.4 Benchmarks/lua-api/count_hook.lua
local ids = {}
for i=1,100 do ids[i] = "charger-"..i end
local function work()
  local t, mem = {}, {}
  for i=1,100 do t[ids[i]] = i end
  local s = 0
  for r=1,3000 do
    local seen = {}
    for i=1,100 do local k = ids[i]; local on = (t[k] or 0) > 0; seen[k] = true; if mem[k] == nil then mem[k] = r end end
    for k in pairs(mem) do if not seen[k] then mem[k] = nil end end
  end
  return s
end
local res = {}
for round=1,5 do
local c = os.clock(); work(); local a = os.clock()-c
debug.sethook(function() end, "", 1000)
c = os.clock(); work(); local b = os.clock()-c
debug.sethook()
res[#res+1] = string.format("%.3f %.3f %.2f", a, b, b/a)
end
print(table.concat(res, " | "))
