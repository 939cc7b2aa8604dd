
return {
  name = nil,
  allocate = function(site)
    setmetatable({}, { __gc = function() while true do end end })
    return fusebox.fill(site, fusebox.wanting(site))
  end,
}
