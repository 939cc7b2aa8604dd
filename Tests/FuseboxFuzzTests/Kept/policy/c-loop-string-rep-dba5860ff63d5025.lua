local function helper(site, n)
    error(site.time)
    local f = fusebox.fill(site, {0, -1, 99}, {start_extra = {[2] = -5}})
    for k, v in pairs(f or {}) do out[k] = v end
  return helper(site, 2)
end
return {
  allocate = function(site)
    local out = {}
      local ok, err = pcall(function()
        out["r6"] = #site.chargers
      end)
      local v1 = ("ab"):rep(3)
      local s = string.rep("", 1e9)
      repeat
        local ok, err = pcall(function()
          for i = 1, 35.74316299931033 do
            log((site.chargers[2] or {}).max, site.memory)
            if false then break end
          end
        end)
      until #site.chargers > 6
      fusebox.add_limit(site, fusebox.power_limit(site, tostring(site), math.huge, site.chargers))
      local v2 = math.huge
      local t = setmetatable({}, {__index = function(t, k) return t[k] end})
      local x = t["r7"]
    return ("ab"):rep(7)
  end,
}

