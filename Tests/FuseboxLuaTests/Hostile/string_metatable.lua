
return {
  name = nil,
  allocate = function(site)
    pcall(function() getmetatable("").__index = function() return nil end end)
    pcall(setmetatable, "", {})
    local ok = ("abc"):upper() == "ABC"
    if not ok then error("string methods were hijacked") end
    return fusebox.fill(site, fusebox.wanting(site))
  end,
}
