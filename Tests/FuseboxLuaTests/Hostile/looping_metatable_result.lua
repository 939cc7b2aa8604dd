
return {
  name = nil,
  allocate = function(site)
    local meta = {}
    meta.__index = function() while true do end end
    meta.__pairs = function() while true do end end
    meta.__len = function() while true do end end
    local out = fusebox.fill(site, fusebox.wanting(site))
    return setmetatable(out, meta)
  end,
}
