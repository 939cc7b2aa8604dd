-- ipairs against a numeric for over 100 numbers, with and without the
-- sandbox's kind of count hook (docs/performance.md, item 17): ipairs calls a
-- function for every step. Run: lua5.4 Benchmarks/lua-api/ipairs_loop.lua
local t = {}
for i = 1, 100 do t[i] = i end
local function with_ipairs() local s = 0 for _, v in ipairs(t) do s = s + v end return s end
local function numeric() local s = 0 for k = 1, #t do s = s + t[k] end return s end
for _ = 1, 3 do
  for _, hook in ipairs({ false, true }) do
    if hook then debug.sethook(function() end, "", 1000) end
    local c = os.clock() for _ = 1, 100000 do with_ipairs() end local a = os.clock() - c
    c = os.clock() for _ = 1, 100000 do numeric() end local b = os.clock() - c
    debug.sethook()
    print(string.format("hook %-5s ipairs %.3f s, numeric %.3f s: %.2fx", tostring(hook), a, b, a / b))
  end
end
