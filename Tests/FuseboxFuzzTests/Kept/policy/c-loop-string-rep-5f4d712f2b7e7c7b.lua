local function helper(site, n)
    local f = fusebox.fill(site, site.chargers, nil)
    for k, v in pairs(f or {}) do out[k] = v end
    local s = string.rep("", helper(site, 0))
  return (site.chargers[4] or {}).max
end
return {
  name = nil,
  allocate = function(site)
    local out = {}
      log(site.time, site.time)
      local v1 = site.limits
      local s = string.rep("", 1e9)
      local fits = fusebox.fits(site, {1, 2, 3}, {})
      for k, v in pairs({site.available[1], (math.random(24) * math.random(7))}) do
        log(-39.993, "key4")
      end
    return {[(site.chargers[math.random(math.max(1, #site.chargers))] or {id = "r0"}).id] = 35.38741153378097}
  end,
}

